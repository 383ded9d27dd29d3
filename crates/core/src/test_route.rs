//! The route `querycomb run` gives a test's statements: the test id for its call, so that a
//! budget written for a test applies to the test's own work, and `<id> (setup)` /
//! `<id> (teardown)` for its fixtures. One place for the convention, so that reports can
//! tell a test's own work from its fixtures.

/// The test phases a hook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Setup,
    Call,
    Teardown,
}

impl Phase {
    pub fn parse(text: &str) -> Option<Phase> {
        match text {
            "setup" => Some(Phase::Setup),
            "call" => Some(Phase::Call),
            "teardown" => Some(Phase::Teardown),
            _ => None,
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Call => "call",
            Phase::Teardown => "teardown",
        }
    }

    /// Fixtures: set-up and tear-down are not the code under test.
    pub fn is_fixture(self) -> bool {
        self != Phase::Call
    }
}

/// The route a test phase's statements get: the test id for its call (so that a budget
/// written for the test id applies to the test's own work), `<id> (setup)` and
/// `<id> (teardown)` for its fixtures.
pub fn route_of(test: &str, phase: Phase) -> String {
    match phase {
        Phase::Call => test.to_owned(),
        other => format!("{test} ({})", other.id()),
    }
}

/// The test and phase a route names, when it is one [`route_of`] made.
pub fn test_of_route(route: &str) -> (&str, Phase) {
    for phase in [Phase::Setup, Phase::Teardown] {
        if let Some(test) = route
            .strip_suffix(')')
            .and_then(|r| r.strip_suffix(phase.id()))
            .and_then(|r| r.strip_suffix(" ("))
        {
            return (test, phase);
        }
    }
    (route, Phase::Call)
}

/// The test without its parameters: `t.py::test_x[MP_TestNode]` → `t.py::test_x`, as pytest
/// writes a parametrised test's id (the other runners' hooks mark no parameters this way).
/// `None` when the test has no parameters.
pub fn unparametrised(test: &str) -> Option<&str> {
    let inner = test.strip_suffix(']')?;
    let mut depth = 0u32;
    for (at, c) in inner.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' if depth == 0 => return Some(&test[..at]).filter(|base| !base.is_empty()),
            '[' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_set_aside() {
        assert_eq!(unparametrised("t.py::C::a[MP_Node]"), Some("t.py::C::a"));
        assert_eq!(unparametrised("t.py::a[x[1]-y]"), Some("t.py::a"));
        assert_eq!(unparametrised("t.py::a"), None);
        assert_eq!(unparametrised("[x]"), None);
        assert_eq!(unparametrised("t.py::a]"), None);
    }

    #[test]
    fn routes_name_the_test_and_read_back() {
        assert_eq!(route_of("t.py::a", Phase::Call), "t.py::a");
        assert_eq!(route_of("t.py::a", Phase::Setup), "t.py::a (setup)");
        assert_eq!(test_of_route("t.py::a (setup)"), ("t.py::a", Phase::Setup));
        assert_eq!(
            test_of_route("t.py::a (teardown)"),
            ("t.py::a", Phase::Teardown)
        );
        assert_eq!(
            test_of_route("t.py::a[x (1)]"),
            ("t.py::a[x (1)]", Phase::Call)
        );
    }
}
