//! Japanese by default (the manual's own words), English as the second language.
//! Chosen by `?lang=`, remembered in a cookie, else by `Accept-Language`.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

pub const LANG_COOKIE: &str = "nidan_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn from_code(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }

    /// The best of ja/en by the header's q-values; `None` when it names neither.
    fn from_accept_language(header: &str) -> Option<Self> {
        header
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let tag = parts.next()?.trim();
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                let primary = tag.split('-').next()?;
                Some((Lang::from_code(primary)?, q))
            })
            .filter(|(_, q)| *q > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(lang, _)| lang)
    }
}

fn lang_from_query(query: Option<&str>) -> Option<Lang> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("lang="))
        .and_then(Lang::from_code)
}

/// Puts the request's `Lang` into its extensions; remembers an explicit choice in a cookie.
pub async fn negotiate(mut req: Request, next: Next) -> Response {
    let chosen = lang_from_query(req.uri().query());
    let jar = CookieJar::from_headers(req.headers());
    let lang = chosen
        .or_else(|| {
            jar.get(LANG_COOKIE)
                .and_then(|c| Lang::from_code(c.value()))
        })
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default();
    req.extensions_mut().insert(lang);
    let mut response = next.run(req).await;
    if let Some(lang) = chosen {
        let cookie = Cookie::build((LANG_COOKIE, lang.code()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::days(365))
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Lang>().copied().unwrap_or_default())
    }
}

/// Every word a page shows. Japanese labels are the manual's.
pub struct Texts {
    pub html_lang: &'static str,
    pub other_lang_label: &'static str,
    pub other_lang_query: &'static str,
    pub nav_mypage: &'static str,
    pub nav_logout: &'static str,
    pub login_title: &'static str,
    pub login_lead: &'static str,
    pub email_label: &'static str,
    pub password_label: &'static str,
    pub login_button: &'static str,
    pub signed_out_notice: &'static str,
    pub home_title: &'static str,
    pub home_signed_in_as: &'static str,
    pub home_lead: &'static str,
    pub mypage_title: &'static str,
    pub account_heading: &'static str,
    pub role_label: &'static str,
    pub role_admin: &'static str,
    pub role_user: &'static str,
    pub two_step_heading: &'static str,
    pub two_step_state_label: &'static str,
    pub two_step_on: &'static str,
    pub two_step_off: &'static str,
    pub setup_title: &'static str,
    pub setup_lead: &'static str,
    pub password_confirm_label: &'static str,
    pub password_hint: &'static str,
    pub setup_button: &'static str,
    pub setup_invalid: &'static str,
    pub err_missing_credentials: &'static str,
    pub err_invalid_email: &'static str,
    pub err_wrong_credentials: &'static str,
    pub err_passwords_differ: &'static str,
    pub err_password_short: &'static str,
    pub err_password_long: &'static str,
    pub err_email_taken: &'static str,
    pub err_throttled: &'static str,
}

pub static JA: Texts = Texts {
    html_lang: "ja",
    other_lang_label: "English",
    other_lang_query: "?lang=en",
    nav_mypage: "マイページ",
    nav_logout: "ログアウト",
    login_title: "ログイン",
    login_lead: "ビューアにログインするメールアドレスとパスワードを入力してください。",
    email_label: "メールアドレス",
    password_label: "パスワード",
    login_button: "ログイン",
    signed_out_notice: "ログアウトしました。",
    home_title: "ビューア",
    home_signed_in_as: "ログイン中のアカウント",
    home_lead: "ビューアにログインしています。",
    mypage_title: "マイページ",
    account_heading: "アカウント",
    role_label: "権限",
    role_admin: "管理者",
    role_user: "一般",
    two_step_heading: "2段階認証",
    two_step_state_label: "状態",
    two_step_on: "有効",
    two_step_off: "無効",
    setup_title: "管理者アカウントの作成",
    setup_lead: "最初の管理者アカウントを作成します。このURLは一度だけ使用できます。",
    password_confirm_label: "パスワード（確認）",
    password_hint: "8文字以上128文字以内",
    setup_button: "作成する",
    setup_invalid: "このURLは無効です。既に使用されたか、アカウントが既に存在します。",
    err_missing_credentials: "メールアドレスとパスワードを入力してください。",
    err_invalid_email: "メールアドレスの形式が正しくありません。",
    err_wrong_credentials: "メールアドレスまたはパスワードが正しくありません。",
    err_passwords_differ: "パスワードが一致しません。",
    err_password_short: "パスワードは8文字以上で入力してください。",
    err_password_long: "パスワードは128文字以内で入力してください。",
    err_email_taken: "このメールアドレスは既に登録されています。",
    err_throttled: "ログインの試行回数が上限に達しました。しばらく待ってから再度お試しください。再試行できるまで：",
};

pub static EN: Texts = Texts {
    html_lang: "en",
    other_lang_label: "日本語",
    other_lang_query: "?lang=ja",
    nav_mypage: "My Page",
    nav_logout: "Sign out",
    login_title: "Sign in",
    login_lead: "Enter the email address and password you use for the viewer.",
    email_label: "Email address",
    password_label: "Password",
    login_button: "Sign in",
    signed_out_notice: "You have signed out.",
    home_title: "Viewer",
    home_signed_in_as: "Signed in as",
    home_lead: "You are signed in to the viewer.",
    mypage_title: "My Page",
    account_heading: "Account",
    role_label: "Role",
    role_admin: "Administrator",
    role_user: "User",
    two_step_heading: "Two-step verification",
    two_step_state_label: "Status",
    two_step_on: "On",
    two_step_off: "Off",
    setup_title: "Create the administrator account",
    setup_lead: "Create the first administrator account. This link works only once.",
    password_confirm_label: "Password (again)",
    password_hint: "8 to 128 characters",
    setup_button: "Create",
    setup_invalid: "This link is not valid: it has been used already, or an account exists.",
    err_missing_credentials: "Enter your email address and password.",
    err_invalid_email: "This is not a valid email address.",
    err_wrong_credentials: "The email address or password is incorrect.",
    err_passwords_differ: "The passwords do not match.",
    err_password_short: "The password must be at least 8 characters long.",
    err_password_long: "The password must be at most 128 characters long.",
    err_email_taken: "An account with this email address already exists.",
    err_throttled: "Too many failed attempts. Please wait before trying again. You can try again in:",
};

/// "N分" / "N minutes", rounded up.
pub fn minutes(lang: Lang, seconds: i64) -> String {
    let m = (seconds.max(1) + 59) / 60;
    match (lang, m) {
        (Lang::Ja, m) => format!("{m}分"),
        (Lang::En, 1) => "1 minute".to_owned(),
        (Lang::En, m) => format!("{m} minutes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_ja_and_en() {
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,ja;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("fr, ja;q=0.5, en;q=0.4"),
            Some(Lang::Ja)
        );
        assert_eq!(Lang::from_accept_language("fr-FR, de"), None);
        assert_eq!(
            Lang::from_accept_language("en;q=0, ja;q=0.1"),
            Some(Lang::Ja)
        );
    }

    #[test]
    fn query_choice_and_minutes() {
        assert_eq!(lang_from_query(Some("next=/x&lang=en")), Some(Lang::En));
        assert_eq!(lang_from_query(Some("lang=xx")), None);
        assert_eq!(minutes(Lang::Ja, 899), "15分");
        assert_eq!(minutes(Lang::En, 30), "1 minute");
        assert_eq!(minutes(Lang::En, 61), "2 minutes");
    }
}
