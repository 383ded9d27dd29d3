//! sqlcommenter tags as real emitters write them.

use querycomb_sql::comment::{tags, without_tags};
use std::borrow::Cow;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[test]
fn standard_url_encoded() {
    // Python/Node sqlcommenter: keys sorted, values URL-encoded and quoted.
    let sql = format!("SELECT * FROM t /*controller='index',db_driver='psycopg2',framework='django%3A5.2',route='%5Epolls%2F%24',traceparent='{TRACEPARENT}'*/");
    let t = tags(&sql);
    assert_eq!(t.get("framework").as_deref(), Some("django:5.2"));
    assert_eq!(t.get("route").as_deref(), Some("^polls/$"));
    assert_eq!(t.route().as_deref(), Some("^polls/$"));
    assert_eq!(t.trace_id(), Some(TRACE));
    assert_eq!(t.iter().count(), 5);
    assert!(
        matches!(t.get("controller"), Some(Cow::Borrowed("index"))),
        "undecoded values borrow"
    );
    assert!(!t.is_empty());
}

#[test]
fn escaped_quote_and_plus() {
    let t = tags("SELECT 1 /*action='it\\'s',route='/a+b%2Bc'*/");
    assert_eq!(t.get("action").as_deref(), Some("it's"));
    // Spring's encoder writes spaces as `+`; a real plus is `%2B`.
    assert_eq!(t.get("route").as_deref(), Some("/a b+c"));
}

#[test]
fn rails_71_unencoded() {
    let t = tags("SELECT \"posts\".* FROM \"posts\" /*action='index',application='Blog',controller='posts'*/");
    assert_eq!(t.route().as_deref(), Some("posts#index"));
    assert_eq!(t.get("application").as_deref(), Some("Blog"));
    let t = tags("SELECT 1 /*controller='admin/users',action='show'*/");
    assert_eq!(t.route().as_deref(), Some("admin/users#show"));
}

#[test]
fn rails_legacy_colon_form() {
    let t = tags(
        "SELECT \"posts\".* FROM \"posts\" /*application:Blog,controller:posts,action:index*/",
    );
    assert_eq!(t.get("controller").as_deref(), Some("posts"));
    assert_eq!(t.route().as_deref(), Some("posts#index"));
    assert_eq!(
        t.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["application", "controller", "action"]
    );
    let t = tags("SELECT 1 /*application:Blog,controller:admin/posts,action:index,job:ReportJob*/");
    assert_eq!(t.route().as_deref(), Some("admin/posts#index"));
    assert_eq!(t.get("job").as_deref(), Some("ReportJob"));
}

#[test]
fn bare_values() {
    let t = tags("SELECT 1 /* route=/orders/{id}, traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */");
    assert_eq!(t.get("route").as_deref(), Some("/orders/{id}"));
    assert_eq!(t.trace_id(), Some(TRACE));
}

#[test]
fn positions_around_semicolons() {
    let body = format!("traceparent='{TRACEPARENT}'");
    let forms = [
        format!("SELECT 1 /*{body}*/"),
        format!("SELECT 1/*{body}*/;"),  // Go: before `;`, no space
        format!("SELECT 1; /*{body}*/"), // Sequelize: after `;`
        format!("SELECT 1 /*{body}*/ ;\n"),
        format!("/*{body}*/ SELECT 1"), // Datadog, Rails prepend_comment
        format!("  /*{body}*/\nSELECT 1;"),
    ];
    for sql in &forms {
        assert_eq!(tags(sql).trace_id(), Some(TRACE), "{sql}");
    }
}

#[test]
fn both_ends() {
    let sql = format!("/*dddbs='orders-db',dde='prod'*/ SELECT 1 /*route='%2Forders',traceparent='{TRACEPARENT}'*/");
    let t = tags(&sql);
    assert_eq!(t.get("dde").as_deref(), Some("prod"));
    assert_eq!(t.route().as_deref(), Some("/orders"));
    assert_eq!(t.iter().count(), 4);
}

#[test]
fn trace_id_validation() {
    let bad = [
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
        "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "",
    ];
    for tp in bad {
        assert_eq!(
            tags(&format!("SELECT 1 /*traceparent='{tp}'*/")).trace_id(),
            None,
            "{tp}"
        );
    }
}

#[test]
fn no_tags() {
    for sql in [
        "SELECT 1",
        "SELECT '/*x=1*/'",
        "SELECT 1 /* just a note */",
        "/**/",
        "SELECT 1 /*",
        "*/",
        "",
        "/*/",
        "SELECT 1 -- route='x'",
    ] {
        let t = tags(sql);
        assert!(t.is_empty(), "{sql}");
        assert_eq!(t.trace_id(), None);
        assert_eq!(t.route(), None);
    }
    // Route falls back to controller alone.
    assert_eq!(
        tags("SELECT 1 /*controller='health'*/").route().as_deref(),
        Some("health")
    );
}

#[test]
fn malformed_pieces_are_skipped() {
    let t = tags(
        "SELECT 1 /*garbage, =nokey, route='/x', bad key='v', 'quoted'='v', action='unterminated*/",
    );
    assert_eq!(t.get("route").as_deref(), Some("/x"));
    assert_eq!(t.get("action").as_deref(), Some("unterminated"));
    assert_eq!(t.get("bad key"), None);
    // Invalid percent-escapes stay literal; invalid UTF-8 after decoding keeps the raw text.
    let t = tags("SELECT 1 /*a='100%',b='%zz',c='%FF'*/");
    assert_eq!(t.get("a").as_deref(), Some("100%"));
    assert_eq!(t.get("b").as_deref(), Some("%zz"));
    assert_eq!(t.get("c").as_deref(), Some("%FF"));
    // Multi-byte text survives.
    assert_eq!(
        tags("SELECT 1 /*route='/caf%C3%A9',app='naïve'*/")
            .get("route")
            .as_deref(),
        Some("/café")
    );
}

#[test]
fn route_and_trace_id_agree_with_route_and_trace_id() {
    let cases = [
        "SELECT 1",
        "SELECT 1;",
        "SELECT 1 /*action='it\\'s',route='/a+b%2Bc'*/",
        "/*controller='admin/users',action='show'*/ SELECT 1",
        "SELECT 1 /*application:Blog,controller:posts,action:index*/ ;  ",
        "SELECT 1 /*CONTROLLER='a',controller='b',Action='x'*/",
        "SELECT 1 /* route=/orders/{id}, traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */",
        "SELECT 1 /*traceparent='00-00000000000000000000000000000000-b7ad6b7169203331-01'*/",
        "\u{a0}/*route='x'*/ SELECT 1\u{3000}",
        "SELECT 1 /*route='x'*/\u{a0};",
        "SELECT 1 /*,\u{2003}route='y'*/",
    ];
    for sql in cases {
        let t = tags(sql);
        let (route, trace) = t.route_and_trace_id();
        assert_eq!(route, t.route(), "{sql}");
        assert_eq!(trace, t.trace_id(), "{sql}");
    }
}

#[test]
fn the_statement_without_its_tags() {
    // What an execution ran, whatever each request's sqlcommenter tags say.
    let body = "SELECT id FROM orders WHERE customer_id = $1";
    for sql in [
        body.to_owned(),
        format!("{body} /*qc_req='worker-u-5'*/"),
        format!("{body} /*traceparent='{TRACEPARENT}'*/;"),
        format!("/*action='index',controller='posts'*/ {body}"),
        format!("/*a='1'*/ {body} /*b='2'*/ ;"),
    ] {
        assert_eq!(without_tags(&sql), body, "{sql}");
    }
    // A comment inside the statement is part of it; a statement that is only a comment
    // has no text left.
    let inside = "SELECT /*+ IndexScan(o) */ id FROM orders o";
    assert_eq!(without_tags(inside), inside);
    assert_eq!(without_tags("/* nothing */"), "");
    assert_eq!(without_tags(""), "");
}

#[test]
fn before_the_returning_clause_pgjdbc_appends() {
    // Hibernate (or sqlcommenter's StatementInspector) comments the insert; pgjdbc, asked for
    // the generated keys, then appends `RETURNING`.
    let sql = format!(
        "insert into events (kind) values ($1) /*traceparent='{TRACEPARENT}'*/\nRETURNING *"
    );
    assert_eq!(tags(&sql).trace_id(), Some(TRACE));
    let sql = format!("insert into events (kind) values ($1) /*traceparent='{TRACEPARENT}'*/ RETURNING \"id\", \"at\"");
    assert_eq!(tags(&sql).trace_id(), Some(TRACE));
    // A RETURNING of the application's own, with expressions, or a comment inside the
    // statement: not a sqlcommenter comment.
    for sql in [
        format!("insert into t values (1) /*traceparent='{TRACEPARENT}'*/ RETURNING lower(\"a\")"),
        format!("select /*traceparent='{TRACEPARENT}'*/ a from t where b = '*'"),
        format!("select a /*traceparent='{TRACEPARENT}'*/ from t"),
    ] {
        assert_eq!(tags(&sql).trace_id(), None, "{sql}");
    }
}
