//! Who is at fault for an error. Every error type of Factory says, so that what happens
//! next follows from one place: whether to retry, the exit code, (later) the HTTP status.

use std::fmt;

/// Who is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// What Factory was given: a build's own failure, a wrong sha256, a bad definition, an
    /// unknown name. Running it again gives the same answer: never retried.
    Input,
    /// The machine or the world around it: the network, a full disk, a missing tool, a
    /// sandbox that cannot start. Retried with backoff; reported as infrastructure.
    Environment,
    /// Factory itself: a bug. Never retried; reported loudly.
    Factory,
}

impl Fault {
    /// Whether trying again may help.
    pub fn is_retryable(self) -> bool {
        self == Fault::Environment
    }

    /// The process exit code for an error of this fault: 1 for input, as for any command
    /// given something wrong; the sysexits codes for a temporary failure (75, `EX_TEMPFAIL`:
    /// try again later) and an internal error (70, `EX_SOFTWARE`), so scripts can tell
    /// "fix your input" from "retry" from "report a bug".
    pub fn exit_code(self) -> u8 {
        match self {
            Fault::Input => 1,
            Fault::Environment => 75,
            Fault::Factory => 70,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Input => "input",
            Fault::Environment => "environment",
            Fault::Factory => "factory",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows who is at fault.
pub trait HasFault {
    fn fault(&self) -> Fault;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_environment_is_retried_and_each_fault_exits_differently() {
        assert!(Fault::Environment.is_retryable());
        assert!(!Fault::Input.is_retryable());
        assert!(!Fault::Factory.is_retryable());
        let codes = [Fault::Input, Fault::Environment, Fault::Factory].map(Fault::exit_code);
        assert_eq!(codes, [1, 75, 70]);
    }
}
