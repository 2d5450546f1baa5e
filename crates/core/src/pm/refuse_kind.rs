//! What a refused request answers: 503 while the class may serve later,
//! 500 when its program cannot be run at all (as C: "can't apply process
//! slot" is a 503, a failed exec a 500).

/// The kind of a refusal, carried by `Action::Refuse` to the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseKind {
    /// No process now (limits, a wait that ran out, a transient spawn
    /// failure such as EMFILE or a failed fork): 503.
    Unavailable,
    /// The program cannot be executed (or suexec cannot run it): 500.
    CannotStart,
}

/// Where starting a process failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnStage {
    /// Before the fork: the socket, descriptors, memory. Always transient.
    Prepare,
    /// Fork, the child's setup, or the exec itself, with its errno.
    Exec(Option<i32>),
}

impl RefuseKind {
    /// Only an exec the program itself makes fail (missing, not executable,
    /// not a binary, a bad path) is `CannotStart`; the rest may pass.
    pub fn of_spawn(stage: SpawnStage) -> RefuseKind {
        const NOT_RUNNABLE: [i32; 6] = [
            libc::ENOENT,
            libc::EACCES,
            libc::ENOEXEC,
            libc::ENOTDIR,
            libc::ELOOP,
            libc::EPERM,
        ];
        match stage {
            SpawnStage::Exec(Some(errno)) if NOT_RUNNABLE.contains(&errno) => {
                RefuseKind::CannotStart
            }
            _ => RefuseKind::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exec_the_program_fails_cannot_start() {
        for errno in [
            libc::ENOENT,
            libc::EACCES,
            libc::ENOEXEC,
            libc::ENOTDIR,
            libc::ELOOP,
            libc::EPERM,
        ] {
            let stage = SpawnStage::Exec(Some(errno));
            assert_eq!(
                RefuseKind::of_spawn(stage),
                RefuseKind::CannotStart,
                "{errno}"
            );
        }
    }

    #[test]
    fn transient_failures_stay_unavailable() {
        // fork's EAGAIN/ENOMEM, the child's ESRCH, descriptors running out.
        for errno in [
            libc::EAGAIN,
            libc::ENOMEM,
            libc::ESRCH,
            libc::EMFILE,
            libc::ENFILE,
        ] {
            let stage = SpawnStage::Exec(Some(errno));
            assert_eq!(
                RefuseKind::of_spawn(stage),
                RefuseKind::Unavailable,
                "{errno}"
            );
        }
        assert_eq!(
            RefuseKind::of_spawn(SpawnStage::Exec(None)),
            RefuseKind::Unavailable
        );
        // EMFILE or even EACCES on the socket's bind is the manager's, not the program's.
        assert_eq!(
            RefuseKind::of_spawn(SpawnStage::Prepare),
            RefuseKind::Unavailable
        );
    }
}
