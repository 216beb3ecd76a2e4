//! Real-time scheduling for the pikemon worker (keepalived's vrrp_rt_priority and
//! vrrp_no_swap): SCHED_FIFO, reset for children on fork, and memory locked against paging.

use std::io;

/// SCHED_FIFO at `priority` (1..99) for the calling thread; children it forks (the notify
/// hooks) start with the normal policy again (SCHED_RESET_ON_FORK, sched(7)).
pub fn fifo(priority: u8) -> io::Result<()> {
    // sched_param is plain old data (musl's has more fields than glibc's); zero is valid.
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = i32::from(priority);
    // The raw system call: musl's sched_setscheduler() is a stub that returns ENOSYS. The
    // pointer is to a live sched_param; pid 0 is the calling thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setscheduler,
            0,
            libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK,
            &param as *const libc::sched_param,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Locks every present and future page of the process in memory (mlockall(2)).
pub fn lock_memory() -> io::Result<()> {
    // mlockall takes only flags.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
