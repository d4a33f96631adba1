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
    pub err_email_look_alike: &'static str,
    pub err_wrong_credentials: &'static str,
    pub err_passwords_differ: &'static str,
    pub err_password_short: &'static str,
    pub err_password_long: &'static str,
    pub err_password_common: &'static str,
    pub err_email_taken: &'static str,
    pub err_throttled: &'static str,
    pub second_step_title: &'static str,
    pub code_lead: &'static str,
    pub code_label: &'static str,
    pub code_hint: &'static str,
    pub verify_button: &'static str,
    pub use_backup_link: &'static str,
    pub backup_title: &'static str,
    pub backup_lead: &'static str,
    pub backup_label: &'static str,
    pub use_totp_link: &'static str,
    pub back_to_login: &'static str,
    pub err_code_format: &'static str,
    pub err_backup_format: &'static str,
    pub err_wrong_code: &'static str,
    pub err_wrong_backup: &'static str,
    pub err_too_many_codes: &'static str,
    pub err_pending_expired: &'static str,
    pub err_second_step_locked: &'static str,
    pub err_wrong_password: &'static str,
    pub err_setup_expired: &'static str,
    pub two_step_setup_button: &'static str,
    pub two_step_disable_button: &'static str,
    pub backup_left_label: &'static str,
    pub regenerate_link: &'static str,
    pub activity_heading: &'static str,
    pub activity_empty: &'static str,
    pub sessions_heading: &'static str,
    pub session_this_device: &'static str,
    pub session_signed_in: &'static str,
    pub session_last_seen: &'static str,
    pub end_session_button: &'static str,
    pub session_ended_notice: &'static str,
    pub err_unknown_session: &'static str,
    pub setup2fa_title: &'static str,
    pub setup2fa_password_lead: &'static str,
    pub send_button: &'static str,
    pub setup2fa_scan_lead: &'static str,
    pub manual_key_label: &'static str,
    pub setup2fa_code_lead: &'static str,
    pub qr_alt: &'static str,
    pub done_title: &'static str,
    pub backup_codes_lead: &'static str,
    pub backup_codes_once: &'static str,
    pub download_codes: &'static str,
    pub continue_to_mypage: &'static str,
    pub disable_title: &'static str,
    pub disable_lead: &'static str,
    pub regen_title: &'static str,
    pub regen_lead: &'static str,
    pub regen_done_title: &'static str,
    pub notice_enabled: &'static str,
    pub notice_disabled: &'static str,
    pub cancel_link: &'static str,
    pub password_change_title: &'static str,
    pub password_change_lead: &'static str,
    pub current_password_label: &'static str,
    pub new_password_label: &'static str,
    pub new_password_confirm_label: &'static str,
    pub password_change_button: &'static str,
    pub notice_password_changed: &'static str,
    pub err_password_unchanged: &'static str,
    pub forgot_link: &'static str,
    pub forgot_title: &'static str,
    pub forgot_lead: &'static str,
    pub forgot_sent: &'static str,
    pub forgot_unavailable: &'static str,
    pub reset_title: &'static str,
    pub reset_lead: &'static str,
    pub reset_code_label: &'static str,
    pub reset_code_hint: &'static str,
    pub reset_button: &'static str,
    pub reset_invalid: &'static str,
    pub reset_again_link: &'static str,
    pub notice_password_reset: &'static str,
    pub err_code_required: &'static str,
    pub err_password_control: &'static str,
    pub invitation_title: &'static str,
    pub invitation_lead: &'static str,
    pub invitation_button: &'static str,
    pub invitation_invalid: &'static str,
    pub email_change_title: &'static str,
    pub email_change_lead: &'static str,
    pub new_email_label: &'static str,
    pub email_code_label: &'static str,
    pub email_code_hint: &'static str,
    pub email_change_button: &'static str,
    pub email_change_sent: &'static str,
    pub email_change_unavailable: &'static str,
    pub err_email_unchanged: &'static str,
    pub email_confirm_title: &'static str,
    pub email_confirm_lead: &'static str,
    pub email_confirm_current: &'static str,
    pub email_confirm_new: &'static str,
    pub email_confirm_button: &'static str,
    pub email_confirm_invalid: &'static str,
    pub email_confirm_done: &'static str,
    pub to_mypage_link: &'static str,
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
    password_hint: "{min}文字以上128文字以内",
    setup_button: "作成する",
    setup_invalid: "このURLは無効です。既に使用されたか、アカウントが既に存在します。",
    err_missing_credentials: "メールアドレスとパスワードを入力してください。",
    err_invalid_email: "メールアドレスの形式が正しくありません。",
    err_email_look_alike: "メールアドレスに、見えない文字か、ほかの文字に似た別の文字が含まれています。ふつうの文字で入力し直してください。",
    err_wrong_credentials: "メールアドレスまたはパスワードが正しくありません。",
    err_passwords_differ: "パスワードが一致しません。",
    err_password_short: "パスワードは{min}文字以上で入力してください。",
    err_password_long: "パスワードは128文字以内で入力してください。",
    err_password_common: "よく使われるパスワードです。推測されにくい、別のパスワードにしてください（メールアドレスや名前を含まないもの）。",
    err_email_taken: "このメールアドレスは既に登録されています。",
    err_throttled: "ログインの試行回数が上限に達しました。しばらく待ってから再度お試しください。再試行できるまで：",
    second_step_title: "2段階認証",
    code_lead: "認証端末の「Google Authenticator」に表示されている確認コードを入力し、「認証する」をクリックしてください。",
    code_label: "確認コード",
    code_hint: "確認コードは30秒ごとに更新されます。表示されているコードが更新される前に入力してください。認証端末の時刻が正しく設定されている必要があります。",
    verify_button: "認証する",
    use_backup_link: "バックアップコードを使用してログイン",
    backup_title: "バックアップコードでログイン",
    backup_lead: "控えておいたバックアップコードを入力し、「認証する」をクリックしてください。",
    backup_label: "バックアップコード",
    use_totp_link: "確認コードでログイン",
    back_to_login: "ログイン画面に戻る",
    err_code_format: "6桁の確認コードを入力してください。",
    err_backup_format: "バックアップコード（英数字10文字）を入力してください。",
    err_wrong_code: "確認コードが正しくありません。",
    err_wrong_backup: "バックアップコードが正しくないか、既に使用されています。",
    err_too_many_codes: "誤ったコードの入力が続いたため、もう一度ログインしてください。",
    err_pending_expired: "ログインの有効期限が切れました。もう一度ログインしてください。",
    err_second_step_locked: "誤ったコードの入力が多すぎるため、2段階認証を一時的にロックしました。再試行できるまで：",
    err_wrong_password: "パスワードが正しくありません。",
    err_setup_expired: "設定の有効期限が切れました。最初からやり直してください。",
    two_step_setup_button: "設定",
    two_step_disable_button: "解除",
    backup_left_label: "残りのバックアップコード",
    regenerate_link: "バックアップコードを再発行",
    activity_heading: "最近のアクティビティ",
    activity_empty: "まだ記録はありません。",
    sessions_heading: "ログイン中の端末",
    session_this_device: "この端末",
    session_signed_in: "ログイン",
    session_last_seen: "最終アクセス",
    end_session_button: "ログアウトさせる",
    session_ended_notice: "選択した端末をログアウトさせました。",
    err_unknown_session: "その端末はすでにログアウトしています。",
    setup2fa_title: "2段階認証の設定",
    setup2fa_password_lead: "ビューアにログインする際に使用するパスワードを入力し、「送信」をクリックしてください。",
    send_button: "送信",
    setup2fa_scan_lead: "認証端末で「Google Authenticator」を開き、下のQRコードを読み取ってください。",
    manual_key_label: "QRコードを読み取れない場合は、次のキーを入力してください",
    setup2fa_code_lead: "アプリに表示された確認コードを入力し、「送信」をクリックしてください。確認コードは一定時間ごとに更新されるため、更新される前に入力してください。",
    qr_alt: "2段階認証を設定するためのQRコード",
    done_title: "2段階認証の設定が完了しました",
    backup_codes_lead: "バックアップコードが発行されました。安全に保管してください。認証端末を紛失した際に、バックアップコードを使用してログインすることが出来ます。各コードは1回だけ使用できます。",
    backup_codes_once: "このページを離れると、バックアップコードは二度と表示されません。",
    download_codes: "テキストファイルで保存",
    continue_to_mypage: "マイページへ",
    disable_title: "2段階認証の解除",
    disable_lead: "アカウントのパスワードを入力し、「解除」をクリックすると2段階認証の設定が解除されます。",
    regen_title: "バックアップコードの再発行",
    regen_lead: "パスワードを入力し、「送信」をクリックしてください。新しいバックアップコードを発行すると、以前のコードは使用できなくなります。",
    regen_done_title: "新しいバックアップコード",
    notice_enabled: "2段階認証を有効にしました。",
    notice_disabled: "2段階認証を解除しました。",
    cancel_link: "キャンセル",
    password_change_title: "パスワードの変更",
    password_change_lead: "現在のパスワードと新しいパスワードを入力し、「変更する」をクリックしてください。変更すると、ほかの端末はすべてログアウトします。",
    current_password_label: "現在のパスワード",
    new_password_label: "新しいパスワード",
    new_password_confirm_label: "新しいパスワード（確認）",
    password_change_button: "変更する",
    notice_password_changed: "パスワードを変更しました。ほかの端末はすべてログアウトしました。",
    err_password_unchanged: "新しいパスワードが現在のパスワードと同じです。別のパスワードにしてください。",
    forgot_link: "パスワードをお忘れの方",
    forgot_title: "パスワードの再設定",
    forgot_lead: "登録しているメールアドレスを入力し、「送信」をクリックしてください。パスワードを再設定するためのリンクをメールでお送りします。",
    forgot_sent: "入力されたメールアドレスのアカウントがある場合は、パスワード再設定用のリンクをお送りしました。メールに記載されたリンクを30分以内に開いてください。",
    forgot_unavailable: "このサーバーはメールを送信できないため、ここではパスワードを再設定できません。管理者に連絡してください。",
    reset_title: "新しいパスワードの設定",
    reset_lead: "新しいパスワードを2回入力し、「設定する」をクリックしてください。設定すると、すべての端末がログアウトします。",
    reset_code_label: "確認コードまたはバックアップコード",
    reset_code_hint: "2段階認証が有効です。認証アプリに表示されている6桁のコード、またはバックアップコードを入力してください。",
    reset_button: "設定する",
    reset_invalid: "このリンクは無効です（使用済み、有効期限切れ、またはパスワードがすでに変更されています）。",
    reset_again_link: "パスワードの再設定をもう一度依頼する",
    notice_password_reset: "パスワードを再設定しました。新しいパスワードでログインしてください。",
    err_code_required: "2段階認証が有効です。確認コードまたはバックアップコードを入力してください。",
    err_password_control: "パスワードに改行やタブなどの制御文字は使えません。",
    invitation_title: "アカウントの作成",
    invitation_lead: "招待されたメールアドレスのアカウントを作成します。パスワードを2回入力し、「作成する」をクリックしてください。",
    invitation_button: "作成する",
    invitation_invalid: "この招待リンクは無効です（使用済み、有効期限切れ、または取り消されています）。管理者に連絡してください。",
    email_change_title: "メールアドレスの変更",
    email_change_lead: "新しいメールアドレスと現在のパスワードを入力し、「確認メールを送信」をクリックしてください。新しいメールアドレスに届いたリンクを開くと、変更が完了します。",
    new_email_label: "新しいメールアドレス",
    email_code_label: "確認コードまたはバックアップコード",
    email_code_hint: "2段階認証が有効です。認証アプリに表示されている6桁のコード、またはバックアップコードを入力してください。",
    email_change_button: "確認メールを送信",
    email_change_sent: "新しいメールアドレスに確認メールを送信しました。メールに記載されたリンクを24時間以内に開くと、変更が完了します。それまでは現在のメールアドレスのままです。",
    email_change_unavailable: "このサーバーはメールを送信できないため、ここではメールアドレスを変更できません。管理者に連絡してください。",
    err_email_unchanged: "新しいメールアドレスが現在のメールアドレスと同じです。",
    email_confirm_title: "メールアドレスの変更の確認",
    email_confirm_lead: "「変更する」をクリックすると、アカウントのメールアドレスが変更されます。次回からは新しいメールアドレスでログインしてください。",
    email_confirm_current: "現在のメールアドレス",
    email_confirm_new: "新しいメールアドレス",
    email_confirm_button: "変更する",
    email_confirm_invalid: "このリンクは無効です（使用済み、有効期限切れ、またはメールアドレスかパスワードがすでに変更されています）。マイページからもう一度手続きしてください。",
    email_confirm_done: "メールアドレスを変更しました。次回からは新しいメールアドレスでログインしてください。",
    to_mypage_link: "マイページへ",
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
    password_hint: "{min} to 128 characters",
    setup_button: "Create",
    setup_invalid: "This link is not valid: it has been used already, or an account exists.",
    err_missing_credentials: "Enter your email address and password.",
    err_invalid_email: "This is not a valid email address.",
    err_email_look_alike: "This email address holds an invisible character or a letter that only looks like another. Please type it again with ordinary characters.",
    err_wrong_credentials: "The email address or password is incorrect.",
    err_passwords_differ: "The passwords do not match.",
    err_password_short: "The password must be at least {min} characters long.",
    err_password_long: "The password must be at most 128 characters long.",
    err_password_common: "This password is too common or too easy to guess. Choose another one (not your email address or name).",
    err_email_taken: "An account with this email address already exists.",
    err_throttled: "Too many failed attempts. Please wait before trying again. You can try again in:",
    second_step_title: "Two-step verification",
    code_lead: "Enter the verification code shown in Google Authenticator on your authenticator device and click Verify.",
    code_label: "Verification code",
    code_hint: "The code changes every 30 seconds: enter it before it changes. The clock of your authenticator device must be set correctly.",
    verify_button: "Verify",
    use_backup_link: "Sign in with a backup code",
    backup_title: "Sign in with a backup code",
    backup_lead: "Enter one of the backup codes you saved and click Verify.",
    backup_label: "Backup code",
    use_totp_link: "Sign in with a verification code",
    back_to_login: "Back to sign-in",
    err_code_format: "Enter the 6-digit code.",
    err_backup_format: "Enter a backup code (10 letters and digits).",
    err_wrong_code: "The code is not correct.",
    err_wrong_backup: "This backup code is not correct or has been used already.",
    err_too_many_codes: "Too many wrong codes. Please sign in again.",
    err_pending_expired: "Your sign-in has expired. Please sign in again.",
    err_second_step_locked: "Too many wrong codes: two-step verification is locked for a while. You can try again in:",
    err_wrong_password: "The password is not correct.",
    err_setup_expired: "The set-up has expired. Please start again.",
    two_step_setup_button: "Set up",
    two_step_disable_button: "Turn off",
    backup_left_label: "Backup codes left",
    regenerate_link: "Issue new backup codes",
    activity_heading: "Recent activity",
    activity_empty: "Nothing recorded yet.",
    sessions_heading: "Signed-in devices",
    session_this_device: "This device",
    session_signed_in: "Signed in",
    session_last_seen: "Last seen",
    end_session_button: "Sign out this device",
    session_ended_notice: "That device has been signed out.",
    err_unknown_session: "That device is already signed out.",
    setup2fa_title: "Set up two-step verification",
    setup2fa_password_lead: "Enter the password you use to sign in to the viewer and click Send.",
    send_button: "Send",
    setup2fa_scan_lead: "Open Google Authenticator on your authenticator device and scan the QR code below.",
    manual_key_label: "If you cannot scan the QR code, enter this key",
    setup2fa_code_lead: "Enter the code the app shows and click Send. The code changes at a fixed interval: enter it before it changes.",
    qr_alt: "QR code for setting up two-step verification",
    done_title: "Two-step verification is on",
    backup_codes_lead: "Your backup codes have been issued. Keep them safe: with a backup code you can sign in when your authenticator device is lost. Each code works once.",
    backup_codes_once: "These codes will not be shown again once you leave this page.",
    download_codes: "Save as a text file",
    continue_to_mypage: "Go to My Page",
    disable_title: "Turn off two-step verification",
    disable_lead: "Enter your account's password and click Turn off: two-step verification is then off.",
    regen_title: "Issue new backup codes",
    regen_lead: "Enter your password and click Send. Once new backup codes are issued, the old ones stop working.",
    regen_done_title: "Your new backup codes",
    notice_enabled: "Two-step verification is on.",
    notice_disabled: "Two-step verification is off.",
    cancel_link: "Cancel",
    password_change_title: "Change password",
    password_change_lead: "Enter your current password and a new one, then click Change. Every other device will be signed out.",
    current_password_label: "Current password",
    new_password_label: "New password",
    new_password_confirm_label: "New password (again)",
    password_change_button: "Change",
    notice_password_changed: "Your password was changed. Every other device was signed out.",
    err_password_unchanged: "The new password is the same as the current one. Choose another.",
    forgot_link: "Forgot your password?",
    forgot_title: "Reset your password",
    forgot_lead: "Enter the email address of your account and click Send. We will email you a link to choose a new password.",
    forgot_sent: "If an account has this email address, a link to choose a new password is on its way. Open it within 30 minutes.",
    forgot_unavailable: "This server cannot send email, so a password cannot be reset here. Please ask your administrator.",
    reset_title: "Choose a new password",
    reset_lead: "Enter a new password twice and click Save. Every device will be signed out.",
    reset_code_label: "Verification code or backup code",
    reset_code_hint: "Two-step verification is on: enter the 6-digit code your authenticator app shows, or a backup code.",
    reset_button: "Save",
    reset_invalid: "This link is not valid (used already, expired, or the password has changed since).",
    reset_again_link: "Ask for a new link",
    notice_password_reset: "Your new password is set. Sign in with it.",
    err_code_required: "Two-step verification is on: enter a verification code or a backup code.",
    err_password_control: "A password cannot contain control characters such as line breaks or tabs.",
    invitation_title: "Create your account",
    invitation_lead: "You were invited with this email address. Choose a password, enter it twice and click Create.",
    invitation_button: "Create",
    invitation_invalid: "This invitation is not valid (used already, expired or revoked). Please ask your administrator.",
    email_change_title: "Change email address",
    email_change_lead: "Enter the new email address and your current password, then click Send confirmation. The change is made when you open the link sent to the new address.",
    new_email_label: "New email address",
    email_code_label: "Code or backup code",
    email_code_hint: "Two-step verification is on. Enter the 6-digit code your authenticator app shows, or a backup code.",
    email_change_button: "Send confirmation",
    email_change_sent: "We sent a confirmation email to the new address. Open its link within 24 hours to finish the change; until then your address stays as it is.",
    email_change_unavailable: "This server cannot send email, so the email address cannot be changed here. Please ask your administrator.",
    err_email_unchanged: "The new email address is the same as the current one.",
    email_confirm_title: "Confirm your new email address",
    email_confirm_lead: "Click Change to make this your account's email address. Sign in with the new address from then on.",
    email_confirm_current: "Current email address",
    email_confirm_new: "New email address",
    email_confirm_button: "Change",
    email_confirm_invalid: "This link is not valid (used already, expired, or the email address or password changed since). Please start again from My Page.",
    email_confirm_done: "Your email address was changed. Sign in with the new address from now on.",
    to_mypage_link: "Go to My Page",
};

/// After a backup-code sign-in: how many codes are left.
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
