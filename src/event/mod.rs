//! The one event loop: poll(2) on registered fds, a deadline heap on CLOCK_MONOTONIC and a
//! signal-hook pipe in the poll set.
