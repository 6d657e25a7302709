//! The list query: filter, sort, page size and the opaque keyset cursor.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};
use crate::tasks::Task;
use crate::validation::FieldErrors;

/// The largest page a client may ask for with `limit`.
pub const MAX_LIMIT: i64 = 100;

/// Tasks in one answer without `limit`: clients written for the FastAPI backend expect every
/// task at once and never follow pages. The bound keeps the worst case inside Lambda's 6 MB
/// response: 200-character titles and 1000-character descriptions of control characters, each
/// escaped to `\u00XX` in the body and escaped once more where the body is a string in the
/// API Gateway response, about 8.6 kB a task (the test below computes it). More remain → `Link`.
pub const MAX_UNPAGED: i64 = 700;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    All,
    Pending,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    Created,
    Updated,
    Title,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

/// Where the next page starts: just after this sort key and id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub key: CursorKey,
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CursorKey {
    Time(OffsetDateTime),
    Text(String),
}

/// A cursor on the wire: base64url of this JSON. It names its sort and order so a cursor from
/// another listing is refused instead of silently skipping rows.
#[derive(Serialize, Deserialize)]
struct WireCursor {
    s: Sort,
    o: Order,
    k: String,
    i: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub status: Status,
    pub sort: Sort,
    pub order: Order,
    /// `None`: no `limit` was given; the answer holds up to [`MAX_UNPAGED`] tasks.
    pub limit: Option<i64>,
    pub after: Option<Cursor>,
}

impl ListQuery {
    /// Reads `status`, `sort`, `order`, `limit` and `cursor`; every bad value is named in one 422.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self> {
        let mut errors = FieldErrors::default();
        let status = errors.check(
            "status",
            match get("status").unwrap_or("all") {
                "all" => Ok(Status::All),
                "pending" => Ok(Status::Pending),
                "completed" => Ok(Status::Completed),
                _ => Err("must be one of all, pending, completed"),
            },
        );
        let sort = errors.check(
            "sort",
            match get("sort").unwrap_or("created") {
                "created" => Ok(Sort::Created),
                "updated" => Ok(Sort::Updated),
                "title" => Ok(Sort::Title),
                _ => Err("must be one of created, updated, title"),
            },
        );
        let order = errors.check(
            "order",
            match get("order").unwrap_or("desc") {
                "asc" => Ok(Order::Asc),
                "desc" => Ok(Order::Desc),
                _ => Err("must be asc or desc"),
            },
        );
        let limit = errors.check(
            "limit",
            get("limit")
                .map(|raw| {
                    raw.parse::<i64>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or("must be a whole number from 1 to 100")
                })
                .transpose(),
        );
        // An empty `cursor=` (a client that fills in every parameter) is the first page.
        let after = match (sort, order, get("cursor").filter(|raw| !raw.is_empty())) {
            (Some(sort), Some(order), Some(raw)) => {
                errors.check("cursor", Cursor::decode(raw, sort, order).map(Some))
            }
            _ => Some(None),
        };
        match (status, sort, order, limit, after) {
            (Some(status), Some(sort), Some(order), Some(limit), Some(after))
                if errors.is_empty() =>
            {
                Ok(Self {
                    status,
                    sort,
                    order,
                    limit,
                    after,
                })
            }
            _ => Err(Error::Validation(errors)),
        }
    }

    /// How many tasks one answer holds.
    pub fn page_size(&self) -> i64 {
        self.limit.unwrap_or(MAX_UNPAGED)
    }

    /// The query string of the page that starts at `cursor`: this listing's own parameters,
    /// those left at their defaults omitted. Every value is a fixed word, a number or
    /// base64url, so nothing needs percent-encoding.
    pub fn next_page(&self, cursor: &str) -> String {
        let mut query = String::new();
        let mut add = |name: &str, value: &str| {
            query.push_str(if query.is_empty() { "" } else { "&" });
            query.push_str(name);
            query.push('=');
            query.push_str(value);
        };
        match self.status {
            Status::All => {}
            Status::Pending => add("status", "pending"),
            Status::Completed => add("status", "completed"),
        }
        match self.sort {
            Sort::Created => {}
            Sort::Updated => add("sort", "updated"),
            Sort::Title => add("sort", "title"),
        }
        if self.order == Order::Asc {
            add("order", "asc");
        }
        if let Some(limit) = self.limit {
            add("limit", &limit.to_string());
        }
        add("cursor", cursor);
        query
    }
}

impl Status {
    /// The `completed` value this filter keeps, if it filters at all.
    pub fn completed(self) -> Option<bool> {
        match self {
            Status::All => None,
            Status::Pending => Some(false),
            Status::Completed => Some(true),
        }
    }
}

impl Sort {
    /// The column this sort orders by; a fixed string, never from the request.
    pub fn column(self) -> &'static str {
        match self {
            Sort::Created => "created_at",
            Sort::Updated => "updated_at",
            Sort::Title => "title",
        }
    }
}

impl Cursor {
    /// The cursor that resumes a listing right after `task`.
    pub fn after(task: &Task, sort: Sort) -> Self {
        let key = match sort {
            Sort::Created => CursorKey::Time(task.created_at),
            Sort::Updated => CursorKey::Time(task.updated_at),
            Sort::Title => CursorKey::Text(task.title.clone()),
        };
        Self { key, id: task.id }
    }

    pub fn encode(&self, sort: Sort, order: Order) -> String {
        let k = match &self.key {
            // Formatting a PostgreSQL timestamp (years 1..9999 here) as RFC 3339 cannot fail.
            CursorKey::Time(t) => t.format(&Rfc3339).unwrap_or_default(),
            CursorKey::Text(s) => s.clone(),
        };
        let wire = WireCursor {
            s: sort,
            o: order,
            k,
            i: self.id,
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
    }

    pub fn decode(raw: &str, sort: Sort, order: Order) -> Result<Self, &'static str> {
        const INVALID: &str = "is not a cursor from this listing; start again without it";
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| INVALID)?;
        let wire: WireCursor = serde_json::from_slice(&bytes).map_err(|_| INVALID)?;
        if wire.s != sort || wire.o != order || wire.i < 1 {
            return Err(INVALID);
        }
        let key = match sort {
            Sort::Created | Sort::Updated => {
                CursorKey::Time(OffsetDateTime::parse(&wire.k, &Rfc3339).map_err(|_| INVALID)?)
            }
            Sort::Title if wire.k.contains('\0') => return Err(INVALID),
            Sort::Title => CursorKey::Text(wire.k),
        };
        Ok(Self { key, id: wire.i })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use time::macros::datetime;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ListQuery> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        ListQuery::parse(|name| map.get(name).copied())
    }

    fn field_errors(pairs: &[(&str, &str)]) -> Vec<String> {
        match parse(pairs) {
            Err(Error::Validation(errors)) => errors.iter().map(|(f, _)| f.to_owned()).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_all_created_desc_unpaged() {
        let query = parse(&[]).unwrap();
        assert_eq!(
            query,
            ListQuery {
                status: Status::All,
                sort: Sort::Created,
                order: Order::Desc,
                limit: None,
                after: None
            }
        );
        assert_eq!(query.page_size(), MAX_UNPAGED);
    }

    #[test]
    fn the_next_page_repeats_the_listing_with_the_cursor() {
        assert_eq!(parse(&[]).unwrap().next_page("abc"), "cursor=abc");
        let cursor = Cursor {
            key: CursorKey::Text("x".into()),
            id: 3,
        }
        .encode(Sort::Title, Order::Asc);
        let query = parse(&[
            ("status", "pending"),
            ("sort", "title"),
            ("order", "asc"),
            ("limit", "5"),
        ])
        .unwrap();
        let next = query.next_page(&cursor);
        assert_eq!(
            next,
            format!("status=pending&sort=title&order=asc&limit=5&cursor={cursor}")
        );
        let params: HashMap<&str, &str> = next
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .collect();
        let reparsed = ListQuery::parse(|name| params.get(name).copied()).unwrap();
        assert_eq!(
            reparsed,
            ListQuery {
                after: Some(Cursor::decode(&cursor, Sort::Title, Order::Asc).unwrap()),
                ..query
            }
        );
    }

    /// The worst case of an unpaged answer, as Lambda receives it: API Gateway's response
    /// object with the JSON array escaped into its `body` string.
    #[test]
    fn the_largest_unpaged_answer_fits_lambdas_6_mb_response() {
        const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;
        let worst = Task {
            id: i64::MAX,
            // The longest id a task can show: a Better Auth user's, which needs no escaping.
            user_id: crate::users::UserId::External(
                "x".repeat(crate::auth::better_auth::MAX_SUBJECT_CHARS),
            ),
            title: "\u{1}".repeat(200),
            description: Some("\u{1}".repeat(1000)),
            completed: false,
            created_at: time::macros::datetime!(2026-01-22 10:15:00.123456 UTC),
            updated_at: time::macros::datetime!(2026-01-22 10:15:00.123456 UTC),
        };
        let body = serde_json::to_string(&vec![worst; MAX_UNPAGED as usize]).unwrap();
        let response = serde_json::json!({
            "statusCode": 200,
            "headers": {
                "content-type": "application/json",
                "cache-control": "no-store",
                "link": format!("</api/00000000-0000-0000-0000-000000000000/tasks?{}>; rel=\"next\"",
                    "x".repeat(2048)),
            },
            "multiValueHeaders": {},
            "body": body,
            "isBase64Encoded": false,
            "cookies": [],
        });
        let size = serde_json::to_string(&response).unwrap().len();
        assert!(size <= LAMBDA_RESPONSE_LIMIT, "{size} bytes");
        // And the cap is not needlessly small: 5% more tasks would not fit.
        assert!(size * 105 / 100 > LAMBDA_RESPONSE_LIMIT, "{size} bytes");
    }

    #[test]
    fn every_bad_parameter_is_named() {
        assert_eq!(field_errors(&[("status", "done")]), ["status"]);
        assert_eq!(field_errors(&[("sort", "priority")]), ["sort"]);
        assert_eq!(field_errors(&[("order", "up")]), ["order"]);
        for limit in ["0", "101", "-1", "ten", "", "1.5"] {
            assert_eq!(field_errors(&[("limit", limit)]), ["limit"], "{limit}");
        }
        assert_eq!(field_errors(&[("cursor", "!!!")]), ["cursor"]);
        assert_eq!(
            field_errors(&[("status", "x"), ("sort", "y"), ("limit", "0")]),
            ["limit", "sort", "status"]
        );
    }

    #[test]
    fn an_empty_cursor_is_the_first_page() {
        let query = parse(&[("cursor", ""), ("sort", "title")]).unwrap();
        assert_eq!(query.after, None);
    }

    #[test]
    fn limits_from_1_to_100_are_accepted() {
        assert_eq!(parse(&[("limit", "1")]).unwrap().page_size(), 1);
        assert_eq!(parse(&[("limit", "100")]).unwrap().page_size(), 100);
    }

    #[test]
    fn cursors_round_trip_for_every_sort_and_order() {
        let at = datetime!(2026-01-22 10:15:00.123456 UTC);
        for (sort, key) in [
            (Sort::Created, CursorKey::Time(at)),
            (Sort::Updated, CursorKey::Time(at)),
            (
                Sort::Title,
                CursorKey::Text("Ünïcode, \"quotes\" & more".into()),
            ),
        ] {
            for order in [Order::Asc, Order::Desc] {
                let cursor = Cursor {
                    key: key.clone(),
                    id: 42,
                };
                let encoded = cursor.encode(sort, order);
                assert!(
                    encoded
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                );
                assert_eq!(Cursor::decode(&encoded, sort, order).unwrap(), cursor);
            }
        }
    }

    #[test]
    fn a_cursor_from_another_sort_or_order_is_refused() {
        let cursor = Cursor {
            key: CursorKey::Time(datetime!(2026-01-22 10:15:00 UTC)),
            id: 7,
        };
        let encoded = cursor.encode(Sort::Created, Order::Desc);
        assert!(Cursor::decode(&encoded, Sort::Updated, Order::Desc).is_err());
        assert!(Cursor::decode(&encoded, Sort::Created, Order::Asc).is_err());
        assert!(Cursor::decode(&encoded, Sort::Title, Order::Desc).is_err());
    }

    #[test]
    fn forged_or_damaged_cursors_are_refused() {
        let forge = |json: &str| URL_SAFE_NO_PAD.encode(json);
        for (raw, sort) in [
            (String::new(), Sort::Created),
            ("not base64!".to_owned(), Sort::Created),
            (forge("[]"), Sort::Created),
            (
                forge(r#"{"s":"created","o":"desc","k":"yesterday","i":1}"#),
                Sort::Created,
            ),
            (
                forge(r#"{"s":"created","o":"desc","k":"2026-01-22T10:15:00Z","i":0}"#),
                Sort::Created,
            ),
            (
                forge(r#"{"s":"created","o":"desc","k":"2026-01-22T10:15:00Z","i":"1"}"#),
                Sort::Created,
            ),
            (
                forge(r#"{"s":"title","o":"desc","k":"a\u0000b","i":1}"#),
                Sort::Title,
            ),
        ] {
            assert!(Cursor::decode(&raw, sort, Order::Desc).is_err(), "{raw}");
        }
    }
}
