//! The pages' files, embedded in the binary (nothing is fetched from elsewhere).

/// Every page's HTML; `{{PAGE}}` and `{{TITLE}}` are filled in per page.
pub(crate) const LAYOUT_HTML: &str = include_str!("assets/layout.html");
/// The login form; `{{ERROR}}` is filled in after a refused token.
pub(crate) const LOGIN_HTML: &str = include_str!("assets/login.html");
/// The pages' script (renders what the JSON API answers).
pub(crate) const APP_JS: &str = include_str!("assets/app.js");
/// The style sheet.
pub(crate) const STYLE_CSS: &str = include_str!("assets/style.css");
