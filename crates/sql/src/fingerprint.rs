//! Fingerprinting: one pass over the tokens that hashes the statement's shape.
//!
//! `scan` (every statement) and `describe` (once per new shape) run the same generic [`Walker`];
//! `scan` plugs in a renderer that does nothing, `describe` one that writes normalised text.
//! Sharing the walk is what guarantees both give the same fingerprint.
//!
//! Normalisation: literals and placeholders hash as one "parameter" token; unquoted words hash
//! lower-cased; quoted identifiers hash exactly; `IN (..)` / `ARRAY[..]` lists of literals
//! collapse to their first item; rows of a multi-row `VALUES` that repeat the first row's shape
//! (or the last kept one's) are dropped; comments, whitespace and a trailing `;` are ignored.
//! The full rule list is in the crate documentation (`lib.rs`).

use crate::facts;
use crate::hash;
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
/// Facts are read from the first MiB of normalised text (real statements are far shorter once
/// lists collapse); `limit_one` from the statement as given, so from the first one described.
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
    /// `(alias, table)` for each table given an alias (`FROM books book0_` →
    /// `("book0_", "books")`), identifier quotes removed.
    pub aliases: Vec<(String, String)>,
    /// `SELECT COUNT(..)/SUM(..)/..`, `SELECT EXISTS(..)`, or a constant existence probe.
    pub aggregate: bool,
    /// Columns compared to one value in WHERE (`customer_id = $1` -> `customer_id`).
    pub filter_columns: Vec<String>,
    /// `LIMIT 1` / `FETCH FIRST 1 ROW` with a literal 1.
    pub limit_one: bool,
    /// WHERE compares the first `ORDER BY` column with one parameter by `>`, `>=`, `<` or
    /// `<=`: a keyset page's cursor.
    pub keyset_cursor: bool,
    /// The dialect it was read in (its placeholders and quoting).
    pub dialect: Dialect,
}

impl Shape {
    /// The normalised text's words (identifiers and keywords; placeholders and punctuation
    /// set aside), for the keyword tests below.
    fn words(&self) -> impl Iterator<Item = &str> {
        self.normalized
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .filter(|w| !w.is_empty())
    }

    fn has_word(&self, word: &str) -> bool {
        self.words().any(|w| w.eq_ignore_ascii_case(word))
    }

    /// A SELECT without FROM (`SELECT nextval($1)`, `SELECT now()`, `SELECT set_config(…)`):
    /// it computes values instead of reading rows, so no loop iterates over its result.
    pub fn reads_no_rows(&self) -> bool {
        self.verb == Verb::Select && self.tables.is_empty() && !self.has_word("FROM")
    }

    /// `… FOR UPDATE`, `FOR SHARE`, `FOR NO KEY UPDATE`, `FOR KEY SHARE` (PostgreSQL, MySQL
    /// 8) or `LOCK IN SHARE MODE` (MySQL): the statement locks the rows it reads.
    pub fn locks_rows(&self) -> bool {
        let words: Vec<&str> = self.words().collect();
        words.windows(2).any(|pair| {
            let [first, second] = pair else { return false };
            (first.eq_ignore_ascii_case("FOR")
                && ["UPDATE", "SHARE", "NO", "KEY"]
                    .iter()
                    .any(|w| second.eq_ignore_ascii_case(w)))
                || (first.eq_ignore_ascii_case("LOCK") && second.eq_ignore_ascii_case("IN"))
        })
    }

    /// The main SELECT's select list, one item each as the normalised text writes it
    /// (`"t"."id"`, `COUNT(*) AS "__count"`); empty for other statements. Which columns a
    /// read takes: two reads of one table by the same key differ here.
    pub fn select_list(&self) -> Vec<String> {
        crate::facts::select_list(&self.normalized, self.dialect)
    }

    /// The statement with its names and select list set aside (every identifier `?`, every
    /// placeholder `$`, the select list `…`): two statements of one form do the same thing
    /// to different tables and columns.
    pub fn form(&self) -> String {
        crate::facts::form(&self.normalized, self.dialect)
    }

    /// `LIMIT … OFFSET …`, or keyset paging: `WHERE id > $1 … LIMIT $2` with no equality
    /// filter, or a cursor on the first `ORDER BY` column within a filter (`WHERE status = $1
    /// AND id > $2 ORDER BY id LIMIT $3`, Rails' `find_each` on a scope). A page loop, where
    /// each statement's input comes from the previous page, so repeating it is not an N+1.
    pub fn is_paging(&self) -> bool {
        let pages = !self.limit_one && self.has_word("LIMIT");
        self.has_word("OFFSET") || (pages && (self.filter_columns.is_empty() || self.keyset_cursor))
    }
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
        #[cfg(feature = "scan-counter")]
        SCANS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Walker::new(sql, self.dialect, NoText).run().0
    }

    /// Once per new shape: normalised text and facts.
    pub fn describe(&mut self, sql: &str) -> Shape {
        let mut buf = std::mem::take(&mut self.text);
        buf.clear();
        let out = TextOut {
            buf,
            params: 0,
            question_marks: self.dialect != Dialect::Postgres,
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
            aliases: facts.aliases,
            aggregate: facts.aggregate,
            filter_columns: facts.filter_columns,
            limit_one: facts.limit_one,
            keyset_cursor: facts.keyset_cursor,
            dialect: self.dialect,
        }
    }
}

#[cfg(feature = "scan-counter")]
static SCANS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// [`Fingerprinter::scan`] calls so far in this process (feature `scan-counter`, for tests).
#[cfg(feature = "scan-counter")]
pub fn scans_so_far() -> u64 {
    SCANS.load(std::sync::atomic::Ordering::Relaxed)
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
    /// Placeholders are written `?` (else `$1`, `$2`, … as PostgreSQL numbers them).
    question_marks: bool,
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
        if self.question_marks {
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

/// The running hashes: shape (`acc`) and literal values.
#[derive(Clone, Copy)]
struct Hashes {
    acc: u64,
    values: u64,
}

impl Hashes {
    #[inline(always)]
    fn fold(&mut self, src: &[u8], t: Token, tag: u64, fold_case: bool) {
        let word = hash::token_word(src, t.start, t.end, fold_case);
        self.acc = hash::fold_token(self.acc, word, tag, t.end - t.start);
    }

    #[inline(always)]
    fn value(&mut self, src: &[u8], t: Token) {
        let word = hash::token_word(src, t.start, t.end, false);
        let state = if self.values == 0 {
            hash::TAG_VALUE
        } else {
            self.values
        };
        self.values = hash::fold_token(state, word, hash::TAG_VALUE, t.end - t.start);
    }

    #[inline(always)]
    fn param(&mut self) {
        self.acc = hash::fold_token(self.acc, 0, hash::TAG_PARAM, 0);
    }
}

/// Folds a token that needs no look-ahead; `false` for the few that do (`IN`, `ARRAY`,
/// `VALUES`, `;`), which go through [`Walker::special`].
#[inline(always)]
fn fold_plain<R: Render>(h: &mut Hashes, src: &[u8], t: Token, out: &mut R) -> bool {
    let text = src.get(t.start..t.end).unwrap_or_default();
    match t.kind {
        Kind::Word => {
            if matches!(text.len(), 2 | 5 | 6) && is_list_keyword(text) {
                return false;
            }
            h.fold(src, t, hash::TAG_WORD, true);
            out.word(text);
        }
        Kind::Quoted => {
            h.fold(src, t, hash::TAG_QUOTED, false);
            out.quoted(text);
        }
        Kind::Str | Kind::Num | Kind::Bool => {
            h.value(src, t);
            h.param();
            out.param();
        }
        Kind::Param => {
            h.param();
            out.param();
        }
        Kind::Semi => return false,
        kind => {
            h.fold(src, t, hash::TAG_PUNCT, false);
            out.punct(kind, text);
        }
    }
    true
}

#[inline]
fn is_list_keyword(w: &[u8]) -> bool {
    keywords::eq(w, b"in") || keywords::eq(w, b"array") || keywords::eq(w, b"values")
}

/// One pass over a statement.
struct Walker<'a, R: Render> {
    lx: Lexer<'a>,
    src: &'a [u8],
    h: Hashes,
    max_list: u32,
    nesting: u32,
    out: R,
}

/// State to return to when a list turns out not to be a list of literals.
struct Checkpoint<'a, M> {
    lx: Lexer<'a>,
    h: Hashes,
    mark: M,
}

impl<'a, R: Render> Walker<'a, R> {
    fn new(sql: &'a str, dialect: Dialect, out: R) -> Self {
        Walker {
            lx: Lexer::new(sql, dialect),
            src: sql.as_bytes(),
            h: Hashes { acc: 0, values: 0 },
            max_list: 0,
            nesting: 0,
            out,
        }
    }

    fn run(mut self) -> (Scan, R) {
        self.walk(false);
        let (h, lx) = (self.h, self.lx);
        let values = if h.values == 0 {
            0
        } else {
            hash::finish(h.values) | 1
        };
        let scan = Scan {
            fingerprint: hash::finish(h.acc),
            values,
            max_list: self.max_list,
            allow: lx.allow,
        };
        (scan, self.out)
    }

    #[inline(always)]
    fn text(&self, t: Token) -> &'a [u8] {
        self.src.get(t.start..t.end).unwrap_or_default()
    }

    #[inline]
    fn token(&mut self, t: Token) {
        if !fold_plain(&mut self.h, self.src, t, &mut self.out) {
            self.special(t);
        }
    }

    #[inline]
    fn punct(&mut self, kind: Kind, t: Token) {
        self.h.fold(self.src, t, hash::TAG_PUNCT, false);
        self.out.punct(kind, self.text(t));
    }

    /// `IN`/`ARRAY`/`VALUES` (may start a collapsible list) and `;` (dropped at the end).
    #[cold]
    fn special(&mut self, t: Token) {
        if t.kind == Kind::Semi {
            if self.lx.peek().is_some() {
                self.punct(t.kind, t);
            }
            return;
        }
        let text = self.text(t);
        self.h.fold(self.src, t, hash::TAG_WORD, true);
        self.out.word(text);
        if self.nesting >= MAX_NESTING {
            return;
        }
        match (text.len(), self.lx.peek_byte()) {
            (2, b'(') => self.try_list(Kind::RParen),
            (5, b'[') => self.try_list(Kind::RBracket),
            (6, b'(') => self.values_rows(),
            _ => {}
        }
    }

    fn checkpoint(&self) -> Checkpoint<'a, R::Mark> {
        Checkpoint {
            lx: self.lx,
            h: self.h,
            mark: self.out.mark(),
        }
    }

    fn restore(&mut self, c: Checkpoint<'a, R::Mark>) {
        self.lx = c.lx;
        self.h = c.h;
        self.out.rollback(c.mark);
    }

    /// Collapses `(lit, lit, ...)` / `[lit, ...]` to its first item plus a list marker, in one
    /// pass; anything that is not a literal item rewinds and walks the tokens normally.
    fn try_list(&mut self, close: Kind) {
        let saved = self.checkpoint();
        self.nesting += 1;
        let collapsed = self.literal_list(close);
        self.nesting -= 1;
        match collapsed {
            Some(items) => self.max_list = self.max_list.max(items),
            None => self.restore(saved),
        }
    }

    fn literal_list(&mut self, close: Kind) -> Option<u32> {
        let open = self.lx.next_token()?;
        self.punct(open.kind, open);
        if !self.first_item(0) {
            return None;
        }
        // The other items only add their values; walk them with the lexer and hashes in locals.
        let (mut lx, mut h) = (self.lx, self.h);
        let mut items = 1u32;
        let end = loop {
            let t = lx.next_token()?;
            match t.kind {
                Kind::Comma if value_item(&mut lx, &mut h, self.src, 0) => {
                    items = items.saturating_add(1)
                }
                k if k == close => break t,
                _ => return None,
            }
        };
        (self.lx, self.h) = (lx, h);
        self.h.acc = hash::fold_token(self.h.acc, 0, hash::TAG_LIST, 0);
        self.out.list_tail();
        self.punct(close, end);
        Some(items)
    }

    /// The first list item, hashed as shape and rendered: `5`, `-5`, `'a'`, `$1`, `NULL`,
    /// `TRUE`, `$1::int`, `'x'::varchar(10)[]`, or a tuple of such items.
    fn first_item(&mut self, nesting: u32) -> bool {
        let Some(t) = self.lx.next_token() else {
            return false;
        };
        match t.kind {
            Kind::Str | Kind::Num | Kind::Bool | Kind::Param => self.token(t),
            Kind::Word if keywords::eq(self.text(t), b"null") => self.token(t),
            Kind::LParen if nesting < MAX_NESTING => {
                self.token(t);
                loop {
                    if !self.first_item(nesting + 1) {
                        return false;
                    }
                    let Some(sep) = self.lx.next_token() else {
                        return false;
                    };
                    if !matches!(sep.kind, Kind::Comma | Kind::RParen) {
                        return false;
                    }
                    self.token(sep);
                    if sep.kind == Kind::RParen {
                        break;
                    }
                }
            }
            _ => return false,
        }
        while self.lx.next_is_cast() {
            let start = self.lx;
            if !skip_cast(&mut self.lx) {
                return false;
            }
            // Hash and render the cast's tokens: the type is part of the shape.
            let end = self.lx.pos_after_last();
            self.lx = start;
            while self.lx.pos_after_last() < end {
                match self.lx.next_token() {
                    Some(t) => self.token(t),
                    None => break,
                }
            }
        }
        true
    }

    /// `VALUES (row), (row), ...`: rows repeating an earlier kept shape are dropped from hash and text.
    fn values_rows(&mut self) {
        self.nesting += 1;
        let mut rows = 0u32;
        let (mut first_row, mut last_kept) = (0u64, 0u64);
        loop {
            let mark = self.out.mark();
            let outer = self.h.acc;
            if rows > 0 {
                self.out.punct(Kind::Comma, b",");
            }
            self.h.acc = hash::TAG_ROW;
            self.walk(true);
            let row = self.h.acc;
            // A row is dropped when it repeats the first row's shape or the last kept one's
            // (so `A B B` and `A B` agree as well as `A A A` and `A`).
            if rows == 0 || (row != first_row && row != last_kept) {
                self.h.acc = hash::fold_token(outer, row, hash::TAG_ROW, 0);
                last_kept = row;
            } else {
                self.h.acc = outer;
                self.out.rollback(mark);
            }
            if rows == 0 {
                first_row = row;
            }
            rows = rows.saturating_add(1);
            if !self.lx.next_is_comma_paren() {
                break;
            }
            self.lx.next_token();
        }
        self.max_list = self.max_list.max(rows);
        self.nesting -= 1;
    }

    /// Walks tokens to the end of input, or with `balanced` from an opening `(` to its
    /// matching `)`. The loop keeps the lexer and hashes in locals (registers); the rare tokens
    /// that need look-ahead sync them back and take the slow path.
    #[inline(always)]
    fn walk(&mut self, balanced: bool) {
        let mut lx = self.lx;
        let mut h = self.h;
        let mut depth = 0u32;
        while let Some(t) = lx.next_token() {
            if !fold_plain(&mut h, self.src, t, &mut self.out) {
                self.lx = lx;
                self.h = h;
                self.special(t);
                lx = self.lx;
                h = self.h;
            }
            if balanced {
                match t.kind {
                    Kind::LParen => depth += 1,
                    Kind::RParen => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        }
        self.lx = lx;
        self.h = h;
    }
}

/// A list item after the first: only its literal values are hashed (into `h.values`).
fn value_item(lx: &mut Lexer<'_>, h: &mut Hashes, src: &[u8], nesting: u32) -> bool {
    let Some(t) = lx.next_token() else {
        return false;
    };
    match t.kind {
        Kind::Str | Kind::Num | Kind::Bool => h.value(src, t),
        Kind::Param => {}
        Kind::Word if keywords::eq(src.get(t.start..t.end).unwrap_or_default(), b"null") => {}
        Kind::LParen if nesting < MAX_NESTING => loop {
            if !value_item(lx, h, src, nesting + 1) {
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
    while lx.next_is_cast() {
        if !skip_cast(lx) {
            return false;
        }
    }
    true
}

/// `::int`, `::"MyType"`, `::varchar(10)`, `::numeric(10, 2)`, `::int[]` after a list item.
fn skip_cast(lx: &mut Lexer<'_>) -> bool {
    if lx.next_token().map(|t| t.kind) != Some(Kind::Cast) {
        return false;
    }
    if !matches!(
        lx.next_token().map(|t| t.kind),
        Some(Kind::Word | Kind::Quoted)
    ) {
        return false;
    }
    if lx.peek_byte() == b'(' {
        lx.next_token();
        loop {
            match lx.next_token().map(|t| t.kind) {
                Some(Kind::Num | Kind::Comma) => continue,
                Some(Kind::RParen) => break,
                _ => return false,
            }
        }
    }
    while lx.peek_byte() == b'[' {
        lx.next_token();
        if lx.next_token().map(|t| t.kind) != Some(Kind::RBracket) {
            return false;
        }
    }
    true
}
