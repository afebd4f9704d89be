//! Service and method name rules, as clamator's TypeScript and Python packages check them.
//!
//! Service names match `^[a-z][a-z0-9-]*$`. Method names match `^[a-z][a-zA-Z0-9]*$` when we
//! emit them (the TypeScript rule: a TS server drops hyphenated names), and
//! `^[a-z][a-zA-Z0-9-]*$` when we accept them (the Python rule: Python clients may send them).

/// True when `s` is a valid service name: `^[a-z][a-z0-9-]*$`.
///
/// ```
/// use clamator_protocol::names::is_valid_service;
/// assert!(is_valid_service("order-service"));
/// assert!(!is_valid_service("Engine"));
/// ```
pub fn is_valid_service(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// True when `s` is a method name we may emit: `^[a-z][a-zA-Z0-9]*$` (no hyphen).
///
/// ```
/// use clamator_protocol::names::is_valid_method;
/// assert!(is_valid_method("launchProcess"));
/// assert!(!is_valid_method("launch-process"));
/// ```
pub fn is_valid_method(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z')) && bytes.all(|b| b.is_ascii_alphanumeric())
}

/// True when `s` is a method name we accept from the wire: `^[a-z][a-zA-Z0-9-]*$`
/// (Python clamator allows hyphens).
pub fn is_acceptable_method(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_names() {
        for ok in ["engine", "order-service", "a1"] {
            assert!(is_valid_service(ok), "{ok}");
        }
        for bad in ["Engine", "1engine", "", "a.b", "a_b"] {
            assert!(!is_valid_service(bad), "{bad}");
        }
        for ok in ["launch", "launchProcess", "a1"] {
            assert!(is_valid_method(ok) && is_acceptable_method(ok), "{ok}");
        }
        assert!(!is_valid_method("launch-process"));
        assert!(is_acceptable_method("launch-process"));
        for bad in ["Launch", "", "1a", "a.b", "a_b"] {
            assert!(!is_acceptable_method(bad), "{bad}");
        }
    }
}
