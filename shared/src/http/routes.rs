//! The API's routes, as template.yaml and the `cargo lambda watch` router serve them (a test
//! in `tests/test_routes.py` holds the three together). The fallback function reads them to tell
//! a path served under other methods (405 with `Allow`) from one that is not served at all (404).

use lambda_http::http::Method;

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// Every route template and the methods it is served with.
pub const ROUTES: &[(&str, &[Method])] = &[
    ("/api/auth/signup", &[POST]),
    ("/api/auth/signin", &[POST]),
    ("/api/auth/me", &[GET, DELETE]),
    ("/api/auth/refresh", &[POST]),
    ("/api/auth/signout", &[POST]),
    ("/api/auth/password", &[POST]),
    ("/api/auth/password/forgot", &[POST]),
    ("/api/auth/password/reset", &[POST]),
    ("/api/auth/email", &[POST]),
    ("/api/auth/email/verify", &[POST]),
    ("/api/auth/email/verify/resend", &[POST]),
    ("/api/auth/sessions", &[GET, DELETE]),
    ("/api/auth/sessions/{id}", &[DELETE]),
    ("/api/tasks", &[GET, POST]),
    ("/api/tasks/{id}", &[GET, PUT, PATCH, DELETE]),
    ("/api/tasks/{id}/complete", &[PATCH]),
    ("/api/{user_id}/tasks", &[GET, POST]),
    ("/api/{user_id}/tasks/{id}", &[GET, PUT, PATCH, DELETE]),
    ("/api/{user_id}/tasks/{id}/complete", &[PATCH]),
];

/// The methods `path` is served with, if any route matches it. A `{name}` segment matches any one
/// non-empty segment; where two routes match, the one with a literal segment earlier wins, as in
/// API Gateway (`/api/tasks/tasks` is a task id, not a user id).
pub fn methods_for(path: &str) -> Option<&'static [Method]> {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .filter_map(|(template, methods)| {
            let pattern: Vec<&str> = template.split('/').collect();
            let fits = pattern.len() == segments.len()
                && pattern.iter().zip(&segments).all(|(p, s)| {
                    if p.starts_with('{') {
                        !s.is_empty()
                    } else {
                        p == s
                    }
                });
            let literal: Vec<bool> = pattern.iter().map(|p| !p.starts_with('{')).collect();
            fits.then_some((literal, *methods))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, methods)| methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_served_path_gives_its_methods() {
        assert_eq!(methods_for("/api/tasks"), Some(&[GET, POST][..]));
        assert_eq!(
            methods_for("/api/tasks/7"),
            Some(&[GET, PUT, PATCH, DELETE][..])
        );
        assert_eq!(methods_for("/api/tasks/x/complete"), Some(&[PATCH][..]));
        assert_eq!(methods_for("/api/42/tasks"), Some(&[GET, POST][..]));
        assert_eq!(methods_for("/api/auth/me"), Some(&[GET, DELETE][..]));
        assert_eq!(methods_for("/api/auth/sessions/x"), Some(&[DELETE][..]));
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        assert_eq!(
            methods_for("/api/tasks/tasks"),
            Some(&[GET, PUT, PATCH, DELETE][..])
        );
        assert_eq!(methods_for("/api/auth/tasks"), Some(&[GET, POST][..]));
    }

    #[test]
    fn other_paths_are_not_served() {
        for path in [
            "",
            "/",
            "/api",
            "/api/",
            "/api/tasks/",
            "/api//tasks",
            "/api/tasks//complete",
            "/api/tasks/1/complete/now",
            "/api/auth",
            "/api/auth/nothing/here",
            "/API/tasks",
        ] {
            assert_eq!(methods_for(path), None, "{path:?}");
        }
    }
}
