//! The statement verb: what kind of statement a shape is.

use crate::keywords;

/// The main statement's verb (through `WITH ...` to the statement it introduces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    Begin,
    Commit,
    Rollback,
    Savepoint,
    Release,
    Prepare,
    Execute,
    Deallocate,
    Declare,
    Fetch,
    Close,
    Set,
    Show,
    Copy,
    Call,
    Other,
}

impl Verb {
    /// Statements that change rows.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Insert | Verb::Update | Verb::Delete | Verb::Merge
        )
    }

    /// BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE (driver-issued bookkeeping, never a finding).
    pub fn is_transaction_control(self) -> bool {
        matches!(
            self,
            Verb::Begin | Verb::Commit | Verb::Rollback | Verb::Savepoint | Verb::Release
        )
    }

    /// The verb a statement's first word names, if it is one.
    pub(crate) fn from_word(word: &[u8]) -> Option<Verb> {
        const TABLE: &[(&[u8], Verb)] = &[
            (b"select", Verb::Select),
            (b"values", Verb::Select),
            (b"table", Verb::Select),
            (b"insert", Verb::Insert),
            (b"replace", Verb::Insert),
            (b"update", Verb::Update),
            (b"delete", Verb::Delete),
            (b"merge", Verb::Merge),
            (b"begin", Verb::Begin),
            (b"start", Verb::Begin),
            (b"commit", Verb::Commit),
            (b"end", Verb::Commit),
            (b"rollback", Verb::Rollback),
            (b"abort", Verb::Rollback),
            (b"savepoint", Verb::Savepoint),
            (b"release", Verb::Release),
            (b"prepare", Verb::Prepare),
            (b"execute", Verb::Execute),
            (b"deallocate", Verb::Deallocate),
            (b"declare", Verb::Declare),
            (b"fetch", Verb::Fetch),
            (b"move", Verb::Fetch),
            (b"close", Verb::Close),
            (b"set", Verb::Set),
            (b"show", Verb::Show),
            (b"copy", Verb::Copy),
            (b"call", Verb::Call),
        ];
        TABLE
            .iter()
            .find(|(kw, _)| keywords::eq(word, kw))
            .map(|&(_, v)| v)
    }
}
