//! The only place with `unsafe`: process title, setns, ioctls, pid-file locks, fork helpers.
#![allow(unsafe_code)]
