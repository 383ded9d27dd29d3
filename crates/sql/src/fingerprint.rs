//! Fingerprinting: one pass over the tokens that hashes the statement's shape.
//!
//! `scan` (every statement) and `describe` (once per new shape) run the same generic [`Walker`];
//! `scan` plugs in a renderer that does nothing, `describe` one that writes normalised text.
//! Sharing the walk is what guarantees both give the same fingerprint.
//!
//! Normalisation: literals and placeholders hash as one "parameter" token; unquoted words hash
//! lower-cased; quoted identifiers hash exactly; `IN (..)` / `ARRAY[..]` lists of literals
//! collapse to their first item; rows of a multi-row `VALUES` that repeat the first row's shape
//! are dropped; comments, whitespace and a trailing `;` are ignored.

use crate::facts;
use crate::hash::{self, mix, mix_bytes};
use crate::keywords::{self, WordClass};
use crate::lexer::{Kind, Lexer, Token};
use crate::{Dialect, Verb};

/// Deepest nesting of `VALUES` rows or tuples the walker descends into; deeper input is hashed
/// token by token instead (bounded stack on hostile input).
const MAX_NESTING: u32 = 8;

/// Reusable fingerprinting state for one dialect.
#[derive(Debug, Clone)]
pub struct Fingerprinter {
    dialect: Dialect,
    text: Vec<u8>,
}

/// The result of the hot-path [`Fingerprinter::scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Equal for statements differing only in literals/params/list lengths/comments/whitespace/keyword case.
    pub fingerprint: u64,
    /// Hash of literal values in order (0 if none).
    pub values: u64,
    /// Longest collapsed IN/ANY(ARRAY[..])/VALUES list, in items (0 if none).
    pub max_list: u32,
    /// Inline `/* querycomb:allow */` marker present.
    pub allow: bool,
}

/// Normalised text and facts about one statement shape ([`Fingerprinter::describe`]).
#[derive(Clone, Debug)]
pub struct Shape {
    /// Equal to [`Scan::fingerprint`].
    pub fingerprint: u64,
    /// E.g. `SELECT * FROM orders WHERE customer_id = $1 LIMIT $2`.
    pub normalized: String,
    /// Main statement's verb (looks through `WITH ...` to it).
    pub verb: Verb,
    /// Names after FROM/JOIN/INTO/UPDATE, in order, identifier quotes removed, de-duplicated.
    pub tables: Vec<String>,
    /// `SELECT COUNT(..)/SUM(..)/..`, `SELECT EXISTS(..)`, or a constant existence probe.
    pub aggregate: bool,
    /// Columns compared to one value in WHERE (`customer_id = $1` -> `customer_id`).
    pub filter_columns: Vec<String>,
    /// `LIMIT 1` / `FETCH FIRST 1 ROW` with a literal 1.
    pub limit_one: bool,
}

impl Fingerprinter {
    pub fn new(dialect: Dialect) -> Self {
        Fingerprinter {
            dialect,
            text: Vec::new(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Hot path, every statement: no allocation.
    pub fn scan(&mut self, sql: &str) -> Scan {
        Walker::new(sql, self.dialect, NoText).run().0
    }

    /// Once per new shape: normalised text and facts.
    pub fn describe(&mut self, sql: &str) -> Shape {
        let mut buf = std::mem::take(&mut self.text);
        buf.clear();
        let out = TextOut {
            buf,
            params: 0,
            mysql: self.dialect == Dialect::MySql,
            last: Last::Start,
            after_into: false,
        };
        let (scan, out) = Walker::new(sql, self.dialect, out).run();
        let normalized = String::from_utf8_lossy(&out.buf).into_owned();
        self.text = out.buf;
        let facts = facts::analyse(&normalized, self.dialect, sql);
        Shape {
            fingerprint: scan.fingerprint,
            normalized,
            verb: facts.verb,
            tables: facts.tables,
            aggregate: facts.aggregate,
            filter_columns: facts.filter_columns,
            limit_one: facts.limit_one,
        }
    }
}

/// Receives normalised tokens; `NoText` for `scan`, `TextOut` for `describe`.
trait Render {
    type Mark: Copy;
    fn word(&mut self, text: &[u8]);
    fn quoted(&mut self, text: &[u8]);
    fn param(&mut self);
    fn punct(&mut self, kind: Kind, text: &[u8]);
    fn list_tail(&mut self);
    fn mark(&self) -> Self::Mark;
    fn rollback(&mut self, mark: Self::Mark);
}

struct NoText;

impl Render for NoText {
    type Mark = ();
    #[inline(always)]
    fn word(&mut self, _: &[u8]) {}
    #[inline(always)]
    fn quoted(&mut self, _: &[u8]) {}
    #[inline(always)]
    fn param(&mut self) {}
    #[inline(always)]
    fn punct(&mut self, _: Kind, _: &[u8]) {}
    #[inline(always)]
    fn list_tail(&mut self) {}
    #[inline(always)]
    fn mark(&self) {}
    #[inline(always)]
    fn rollback(&mut self, _: ()) {}
}

/// What the previous rendered token was, for spacing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Start,
    /// `(`, `[`, `.`, `::`: no space after.
    Glue,
    Word(WordClass),
    /// A table name after INTO: `INTO t (a, b)` keeps its space.
    TableName,
    /// `ANY`/`ALL`/`SOME`/`EXISTS`: written `ANY(` like a function.
    GlueWord,
    Other,
}

struct TextOut {
    buf: Vec<u8>,
    params: u32,
    mysql: bool,
    last: Last,
    /// The previous word was INTO.
    after_into: bool,
}

impl TextOut {
    fn space_before(&mut self, kind: Kind) {
        let glued = match kind {
            Kind::RParen
            | Kind::RBracket
            | Kind::Comma
            | Kind::Semi
            | Kind::Dot
            | Kind::Cast
            | Kind::LBracket => true,
            Kind::LParen => matches!(
                self.last,
                Last::Word(WordClass::Name | WordClass::Function) | Last::GlueWord
            ),
            _ => false,
        };
        if !glued && !matches!(self.last, Last::Start | Last::Glue) {
            self.buf.push(b' ');
        }
    }
}

impl Render for TextOut {
    type Mark = (usize, u32, Last);

    fn word(&mut self, text: &[u8]) {
        self.space_before(Kind::Word);
        let class = keywords::classify(text);
        if class == WordClass::Name {
            self.buf.extend_from_slice(text);
        } else {
            self.buf.extend(text.iter().map(u8::to_ascii_uppercase));
        }
        let glue = ["any", "all", "some", "exists"]
            .iter()
            .any(|w| keywords::eq(text, w.as_bytes()));
        self.last = match self.last {
            _ if glue => Last::GlueWord,
            Last::Word(_) if class == WordClass::Name && self.after_into => Last::TableName,
            _ => Last::Word(class),
        };
        self.after_into = keywords::eq(text, b"into");
    }

    fn quoted(&mut self, text: &[u8]) {
        self.space_before(Kind::Quoted);
        self.buf.extend_from_slice(text);
        self.last = Last::Other;
    }

    fn param(&mut self) {
        self.space_before(Kind::Param);
        if self.mysql {
            self.buf.push(b'?');
        } else {
            self.params += 1;
            self.buf.push(b'$');
            self.buf
                .extend_from_slice(self.params.to_string().as_bytes());
        }
        self.last = Last::Other;
    }

    fn punct(&mut self, kind: Kind, text: &[u8]) {
        self.space_before(kind);
        self.buf.extend_from_slice(text);
        self.last = match kind {
            Kind::LParen | Kind::LBracket | Kind::Dot | Kind::Cast => Last::Glue,
            _ => Last::Other,
        };
    }

    fn list_tail(&mut self) {
        self.buf.extend_from_slice(b", ...");
        self.last = Last::Other;
    }

    fn mark(&self) -> Self::Mark {
        (self.buf.len(), self.params, self.last)
    }

    fn rollback(&mut self, (len, params, last): Self::Mark) {
        self.buf.truncate(len);
        self.params = params;
        self.last = last;
    }
}

/// One pass over a statement.
struct Walker<'a, R: Render> {
    lx: Lexer<'a>,
    src: &'a [u8],
    acc: u64,
    values: u64,
    max_list: u32,
    nesting: u32,
    out: R,
}

impl<'a, R: Render> Walker<'a, R> {
    fn new(sql: &'a str, dialect: Dialect, out: R) -> Self {
        Walker {
            lx: Lexer::new(sql, dialect),
            src: sql.as_bytes(),
            acc: 0,
            values: 0,
            max_list: 0,
            nesting: 0,
            out,
        }
    }

    fn run(mut self) -> (Scan, R) {
        while let Some(t) = self.lx.next_token() {
            self.token(t);
        }
        let values = if self.values == 0 {
            0
        } else {
            hash::finish(self.values) | 1
        };
        let scan = Scan {
            fingerprint: hash::finish(self.acc),
            values,
            max_list: self.max_list,
            allow: self.lx.allow,
        };
        (scan, self.out)
    }

    #[inline]
    fn text(&self, t: Token) -> &'a [u8] {
        self.src.get(t.start..t.end).unwrap_or_default()
    }

    #[inline]
    fn token(&mut self, t: Token) {
        let text = self.text(t);
        match t.kind {
            Kind::Word => self.word(text),
            Kind::Quoted => {
                self.acc = mix_bytes(self.acc, hash::TAG_QUOTED, text, false);
                self.out.quoted(text);
            }
            Kind::Str | Kind::Num => self.literal(text),
            Kind::Param => self.param(),
            Kind::Semi if self.lx.peek().is_none() => {}
            kind => self.punct(kind, text),
        }
    }

    #[inline]
    fn literal(&mut self, text: &[u8]) {
        self.values = mix_bytes(self.values | 1, hash::TAG_VALUE, text, false);
        self.param();
    }

    #[inline]
    fn param(&mut self) {
        self.acc = mix(self.acc, 0, hash::TAG_PARAM);
        self.out.param();
    }

    #[inline]
    fn punct(&mut self, kind: Kind, text: &[u8]) {
        self.acc = mix_bytes(self.acc, hash::TAG_PUNCT, text, false);
        self.out.punct(kind, text);
    }

    fn word(&mut self, text: &[u8]) {
        let list_close = match text.len() {
            2 if keywords::eq(text, b"in") => Some((Kind::LParen, Kind::RParen)),
            4 if keywords::eq(text, b"true") => return self.literal(text),
            5 if keywords::eq(text, b"false") => return self.literal(text),
            5 if keywords::eq(text, b"array") => Some((Kind::LBracket, Kind::RBracket)),
            6 if keywords::eq(text, b"values") => Some((Kind::LParen, Kind::RParen)),
            _ => None,
        };
        self.acc = mix_bytes(self.acc, hash::TAG_WORD, text, true);
        self.out.word(text);
        let Some((open, close)) = list_close else {
            return;
        };
        if self.lx.peek().map(|t| t.kind) != Some(open) || self.nesting >= MAX_NESTING {
            return;
        }
        if text.len() == 6 {
            self.values_rows();
        } else {
            self.try_list(close);
        }
    }

    /// Collapses `(lit, lit, ...)` / `[lit, ...]` to its first item plus a list marker.
    fn try_list(&mut self, close: Kind) {
        let mut probe = self.lx;
        probe.next_token();
        let mut items = 0u32;
        loop {
            if !skip_literal_item(&mut probe, 0) {
                return;
            }
            items = items.saturating_add(1);
            match probe.next_token().map(|t| t.kind) {
                Some(Kind::Comma) => continue,
                Some(k) if k == close => break,
                _ => return,
            }
        }
        let end = probe.pos();
        self.max_list = self.max_list.max(items);
        self.nesting += 1;
        if let Some(open) = self.lx.next_token() {
            self.token(open);
        }
        let mut depth = 0u32;
        let mut more = false;
        while let Some(t) = self.lx.next_token() {
            match t.kind {
                Kind::LParen | Kind::LBracket => depth += 1,
                Kind::RParen | Kind::RBracket if depth == 0 => break,
                Kind::RParen | Kind::RBracket => depth -= 1,
                Kind::Comma if depth == 0 => {
                    more = true;
                    break;
                }
                _ => {}
            }
            self.token(t);
        }
        while more && self.lx.pos() < end {
            match self.lx.next_token() {
                Some(t) if matches!(t.kind, Kind::Str | Kind::Num) => {
                    self.values = mix_bytes(self.values | 1, hash::TAG_VALUE, self.text(t), false);
                }
                Some(_) => {}
                None => break,
            }
        }
        self.acc = mix(self.acc, 0, hash::TAG_LIST);
        self.out.list_tail();
        let close_text: &[u8] = if close == Kind::RParen { b")" } else { b"]" };
        self.punct(close, close_text);
        self.nesting -= 1;
    }

    /// `VALUES (row), (row), ...`: rows with the first row's shape are dropped from hash and text.
    fn values_rows(&mut self) {
        self.nesting += 1;
        let mut rows = 0u32;
        let mut first_row = 0u64;
        loop {
            let mark = self.out.mark();
            let outer = self.acc;
            if rows > 0 {
                self.out.punct(Kind::Comma, b",");
            }
            self.acc = hash::TAG_ROW;
            self.walk_balanced();
            let row = self.acc;
            if rows == 0 || row != first_row {
                self.acc = mix(outer, row, hash::TAG_ROW);
            } else {
                self.acc = outer;
                self.out.rollback(mark);
            }
            if rows == 0 {
                first_row = row;
            }
            rows = rows.saturating_add(1);
            let mut ahead = self.lx;
            let comma = ahead.next_token().map(|t| t.kind) == Some(Kind::Comma);
            if !(comma && ahead.next_token().map(|t| t.kind) == Some(Kind::LParen)) {
                break;
            }
            self.lx.next_token();
        }
        self.max_list = self.max_list.max(rows);
        self.nesting -= 1;
    }

    /// Walks tokens from an opening `(` to its matching `)` (or the end of input).
    fn walk_balanced(&mut self) {
        let mut depth = 0u32;
        while let Some(t) = self.lx.next_token() {
            match t.kind {
                Kind::LParen => depth += 1,
                Kind::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.token(t);
            if depth == 0 {
                break;
            }
        }
    }
}

/// One list item made only of literals: `5`, `-5`, `'a'`, `$1`, `NULL`, `TRUE`, `$1::int`,
/// `'x'::varchar(10)[]`, or a tuple of such items.
fn skip_literal_item(lx: &mut Lexer<'_>, nesting: u32) -> bool {
    let Some(t) = lx.next_token() else {
        return false;
    };
    let src = lx.src();
    match t.kind {
        Kind::Str | Kind::Num | Kind::Param => {}
        Kind::Word => {
            let w = src.get(t.start..t.end).unwrap_or_default();
            if !(keywords::eq(w, b"null") || keywords::eq(w, b"true") || keywords::eq(w, b"false"))
            {
                return false;
            }
        }
        Kind::LParen if nesting < MAX_NESTING => loop {
            if !skip_literal_item(lx, nesting + 1) {
                return false;
            }
            match lx.next_token().map(|t| t.kind) {
                Some(Kind::Comma) => continue,
                Some(Kind::RParen) => break,
                _ => return false,
            }
        },
        _ => return false,
    }
    while lx.peek().map(|t| t.kind) == Some(Kind::Cast) {
        lx.next_token();
        if !skip_type_name(lx) {
            return false;
        }
    }
    true
}

/// `int`, `"MyType"`, `varchar(10)`, `numeric(10, 2)`, `int[]`.
fn skip_type_name(lx: &mut Lexer<'_>) -> bool {
    if !matches!(
        lx.next_token().map(|t| t.kind),
        Some(Kind::Word | Kind::Quoted)
    ) {
        return false;
    }
    if lx.peek().map(|t| t.kind) == Some(Kind::LParen) {
        lx.next_token();
        loop {
            match lx.next_token().map(|t| t.kind) {
                Some(Kind::Num | Kind::Comma) => continue,
                Some(Kind::RParen) => break,
                _ => return false,
            }
        }
    }
    while lx.peek().map(|t| t.kind) == Some(Kind::LBracket) {
        lx.next_token();
        if lx.next_token().map(|t| t.kind) != Some(Kind::RBracket) {
            return false;
        }
    }
    true
}
