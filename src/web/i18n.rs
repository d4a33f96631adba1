//! Japanese by default (the manual's own words), English as the second language.
//! Chosen by `?lang=`, remembered in a cookie, else by `Accept-Language`.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

mod texts;
pub use texts::{EN, JA, Texts};

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

tokio::task_local! {
    /// The link to this very page in the other language, for the page being rendered.
    static OTHER_LANG_HREF: String;
}

/// This page's query with `lang` switched: `rd` and `next` survive a change of language.
fn other_lang_href(query: Option<&str>, other: Lang) -> String {
    let mut pairs: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    pairs.retain(|(k, _)| k != "lang");
    pairs.push(("lang".to_owned(), other.code().to_owned()));
    format!(
        "?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

/// The other-language link of the page being rendered (`?lang=xx` outside a request).
pub fn current_other_lang_href(lang: Lang) -> String {
    OTHER_LANG_HREF
        .try_with(Clone::clone)
        .unwrap_or_else(|_| lang.texts().other_lang_query.to_owned())
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
            // A browser that asks for neither reads English better than Japanese; one that
            // asks for nothing gets the manual's Japanese.
            let asked = req.headers().get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
            Some(Lang::from_accept_language(asked).unwrap_or(Lang::En))
        })
        .unwrap_or_default();
    req.extensions_mut().insert(lang);
    let other = if lang == Lang::Ja { Lang::En } else { Lang::Ja };
    let href = other_lang_href(req.uri().query(), other);
    let mut response = OTHER_LANG_HREF.scope(href, next.run(req)).await;
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

/// The audit event as マイページ names it.
pub fn event_label(lang: Lang, kind: Option<crate::auth::EventKind>) -> &'static str {
    use crate::auth::EventKind as K;
    let Some(kind) = kind else {
        return match lang {
            Lang::Ja => "その他",
            Lang::En => "Other",
        };
    };
    let (ja, en) = match kind {
        K::AccountCreated => ("アカウント作成", "Account created"),
        K::AccountDeleted => ("アカウント削除", "Account deleted"),
        K::SignInOk => ("ログイン", "Signed in"),
        K::SignInFailed => ("パスワードの誤り", "Wrong password"),
        K::PasswordAccepted => (
            "パスワード確認（2段階認証の前）",
            "Password accepted (before the second step)",
        ),
        K::SecondStepOk => (
            "2段階認証でログイン",
            "Signed in with two-step verification",
        ),
        K::SecondStepFailed => ("認証コードの誤り", "Wrong code"),
        K::BackupCodeUsed => ("バックアップコードを使用", "Backup code used"),
        K::Locked => ("ロックされました", "Locked"),
        K::Unlocked => ("管理者がロックを解除", "Unlocked by an administrator"),
        K::TwoStepEnabled => ("2段階認証を設定", "Two-step verification turned on"),
        K::TwoStepDisabled => ("2段階認証を解除", "Two-step verification turned off"),
        K::BackupCodesRegenerated => ("バックアップコードを再発行", "New backup codes"),
        K::TwoStepReset => (
            "管理者が2段階認証を解除",
            "Two-step verification reset by an administrator",
        ),
        K::PasswordChanged => ("パスワード変更", "Password changed"),
        K::PasswordResetRequested => ("パスワード再設定の依頼", "Password reset requested"),
        K::PasswordReset => ("パスワード再設定", "Password reset"),
        K::InvitationSent => ("招待", "Invited"),
        K::InvitationRevoked => ("招待の取り消し", "Invitation revoked"),
        K::EmailChangeRequested => (
            "メールアドレス変更の手続き",
            "Email address change asked for",
        ),
        K::EmailChanged => ("メールアドレス変更", "Email address changed"),
        K::SessionEnded => ("端末をログアウトさせました", "A device was signed out"),
        K::SignedOut => ("ログアウト", "Signed out"),
    };
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

/// After a backup-code sign-in: how many codes are left.
pub fn backup_used(lang: Lang, left: i64) -> String {
    match lang {
        Lang::Ja => format!(
            "バックアップコードでログインしました。残りのバックアップコードは{left}個です。"
        ),
        Lang::En => format!("You signed in with a backup code. Backup codes left: {left}."),
    }
}

/// "あと N 回" / "N attempts left".
pub fn attempts_left(lang: Lang, n: i64) -> String {
    match (lang, n) {
        (Lang::Ja, n) => format!("あと{n}回入力できます。"),
        (Lang::En, 1) => "1 attempt left.".to_owned(),
        (Lang::En, n) => format!("{n} attempts left."),
    }
}

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
