use std::fmt;

/// Index of an input (a file, stdin, a proxy listener) in the run's [`SourceTable`].
///
/// Events carry this small id instead of the name so that copying a [`Location`] is free.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct SourceId(pub u32);

/// Where an event came from: which input, which line (1-based), which byte offset (0-based,
/// of the start of the record). For the proxy, `line` is the connection id and `byte` the
/// number of client bytes seen before the message. Ordered as the input gave the events
/// (within one file; through the proxy, by connection, then in each connection's order).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Location {
    pub source: SourceId,
    pub line: u64,
    pub byte: u64,
}

/// Names of the inputs of one run, indexed by [`SourceId`].
#[derive(Debug, Clone, Default)]
pub struct SourceTable {
    names: Vec<String>,
    /// Inputs that are live captures (a proxy's traffic): their `line` is a connection id,
    /// not a place in a file, so reports name the request instead.
    captures: Vec<SourceId>,
}

impl SourceTable {
    pub fn add(&mut self, name: impl Into<String>) -> SourceId {
        self.names.push(name.into());
        SourceId((self.names.len() - 1) as u32)
    }

    /// A live capture (see [`SourceTable::is_capture`]).
    pub fn add_capture(&mut self, name: impl Into<String>) -> SourceId {
        let id = self.add(name);
        self.captures.push(id);
        id
    }

    /// Whether `id`'s locations are connection ids of a live capture rather than lines.
    pub fn is_capture(&self, id: SourceId) -> bool {
        self.captures.contains(&id)
    }

    pub fn name(&self, id: SourceId) -> &str {
        self.names
            .get(id.0 as usize)
            .map_or("<unknown>", String::as_str)
    }

    /// Every input name, indexed by [`SourceId`] (reports list them so that a
    /// serialised [`Location::source`] can be resolved).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// `file:line` for messages and reports.
    pub fn display(&self, loc: Location) -> String {
        format!("{}:{}", self.name(loc.source), loc.line)
    }
}

/// A record a source could not understand. It is reported and skipped; the source goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub location: Location,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} (byte {}): {}",
            self.location.line, self.location.byte, self.message
        )
    }
}
