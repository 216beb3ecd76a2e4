//! The `log` backend: stderr in the foreground, syslog (daemon facility) when daemonized.
