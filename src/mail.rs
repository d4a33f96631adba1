//! Security notices by email (lettre over SMTP), in Japanese and English. Sent in the
//! background: a slow or absent mail server never holds up a sign-in.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::auth::{Notice, Notifier};
use crate::clock::{UnixTime, format_utc};

pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error("--smtp-url: {0}")]
    Url(#[from] lettre::transport::smtp::Error),
    #[error("--smtp-from: {0}")]
    From(#[from] lettre::address::AddressError),
}

impl SmtpNotifier {
    /// `smtp://host:port` (plain, for a local relay), `smtp://…?tls=required` (STARTTLS)
    /// or `smtps://user:pass@host` (TLS).
    pub fn new(url: &str, from: &str) -> Result<Self, MailSetupError> {
        Ok(Self {
            transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build(),
            from: from.parse()?,
        })
    }
}

impl SmtpNotifier {
    fn message(&self, to: &str, notice: &Notice, at: UnixTime) -> Result<Message, String> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|_| "the account's address is not a mailbox".to_owned())?;
        let (subject, body) = compose(notice, at);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .header(ContentTransferEncoding::Base64)
                    .body(body),
            )
            .map_err(|e| e.to_string())
    }

    /// Sends now and says how it went (the CLI waits for its invitation to go out).
    pub async fn send(&self, to: &str, notice: &Notice, at: UnixTime) -> Result<(), String> {
        let message = self.message(to, notice, at)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl Notifier for SmtpNotifier {
    fn notify(&self, to: &str, notice: Notice, at: UnixTime) {
        let message = match self.message(to, &notice, at) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "notification not built");
                return;
            }
        };
        let transport = self.transport.clone();
        tokio::spawn(async move {
            match transport.send(message).await {
                Ok(_) => tracing::info!("notification email sent"),
                Err(e) => tracing::warn!(error = %e, "notification email not sent"),
            }
        });
    }
}

/// Subject and plain-text body: Japanese first, then English.
pub fn compose(notice: &Notice, at: UnixTime) -> (String, String) {
    let when = format_utc(at);
    let (ja_subject, en_subject, ja, en) = match notice {
        Notice::PasswordResetLink { link, expires_at } => {
            let until = format_utc(*expires_at);
            (
                "パスワードの再設定",
                "Choose a new password",
                format!(
                    "パスワードの再設定が依頼されました。次のリンクを開いて、新しいパスワードを設定してください（{until} まで有効、1回のみ使用できます）。\n{}",
                    link.0
                ),
                format!(
                    "Someone asked to choose a new password for your account. Open this link to choose it (valid until {until}, once):\n{}",
                    link.0
                ),
            )
        }
        Notice::Invitation { link, expires_at } => {
            let until = format_utc(*expires_at);
            (
                "nidan への招待",
                "You are invited to nidan",
                format!(
                    "nidan のアカウントに招待されました。次のリンクを開いて、パスワードを設定してください（{until} まで有効、1回のみ使用できます）。\n{}",
                    link.0
                ),
                format!(
                    "You were invited to an account on nidan. Open this link to choose your password (valid until {until}, once):\n{}",
                    link.0
                ),
            )
        }
        Notice::PasswordReset => (
            "パスワードが再設定されました",
            "Your password was reset",
            "「パスワードをお忘れの方」から、お使いのアカウントのパスワードが再設定されました。すべての端末はログアウトしました。"
                .to_owned(),
            "The password of your account was reset through \"Forgot your password?\"; every device was signed out."
                .to_owned(),
        ),
        Notice::PasswordChanged { by_admin } => (
            "パスワードが変更されました",
            "Your password was changed",
            if *by_admin {
                "管理者がお使いのアカウントのパスワードを変更しました。ほかの端末はログアウトしました。"
                    .to_owned()
            } else {
                "お使いのアカウントのパスワードが変更されました。ほかの端末はログアウトしました。"
                    .to_owned()
            },
            if *by_admin {
                "An administrator changed the password of your account; every other device was signed out."
                    .to_owned()
            } else {
                "The password of your account was changed; every other device was signed out."
                    .to_owned()
            },
        ),
        Notice::TwoStepEnabled => (
            "2段階認証が有効になりました",
            "Two-step verification was turned on",
            "お使いのアカウントで2段階認証が有効になりました。".to_owned(),
            "Two-step verification was turned on for your account.".to_owned(),
        ),
        Notice::TwoStepDisabled { by_admin } => (
            "2段階認証が解除されました",
            "Two-step verification was turned off",
            if *by_admin {
                "管理者がお使いのアカウントの2段階認証を解除しました。".to_owned()
            } else {
                "お使いのアカウントの2段階認証が解除されました。".to_owned()
            },
            if *by_admin {
                "An administrator turned off two-step verification for your account.".to_owned()
            } else {
                "Two-step verification was turned off for your account.".to_owned()
            },
        ),
        Notice::BackupCodeUsed { left } => (
            "バックアップコードが使用されました",
            "A backup code was used",
            format!(
                "バックアップコードでログインしました。残りのバックアップコードは {left} 個です。"
            ),
            format!("Someone signed in with a backup code. {left} backup codes are left."),
        ),
        Notice::BackupCodesRegenerated => (
            "新しいバックアップコードが発行されました",
            "New backup codes were issued",
            "お使いのアカウントに新しいバックアップコードが発行されました。以前のバックアップコードは使えません。"
                .to_owned(),
            "New backup codes were issued for your account; the earlier ones no longer work."
                .to_owned(),
        ),
        Notice::EmailChangeLink { link, expires_at } => {
            let until = format_utc(*expires_at);
            (
                "メールアドレスの確認",
                "Confirm your new email address",
                format!(
                    "nidan のアカウントのメールアドレスをこのアドレスに変更する手続きが行われました。次のリンクを開いて、変更を完了してください（{until} まで有効、1回のみ使用できます）。\n{}",
                    link.0
                ),
                format!(
                    "Someone asked to make this the email address of their nidan account. Open this link to finish the change (valid until {until}, once):\n{}",
                    link.0
                ),
            )
        }
        Notice::EmailChangeRequested { new_email } => (
            "メールアドレスの変更手続き",
            "Email address change asked for",
            format!(
                "アカウントのメールアドレスを {new_email} に変更する手続きが行われました。新しいメールアドレスに届いたリンクが開かれるまで、変更はされません。"
            ),
            format!(
                "Someone asked to change your account's email address to {new_email}. Nothing changes until the link sent to that address is opened."
            ),
        ),
        Notice::EmailChanged { new_email } => (
            "メールアドレスが変更されました",
            "Your email address was changed",
            format!(
                "アカウントのメールアドレスが {new_email} に変更されました。今後はこのアドレスにはお知らせが届きません。"
            ),
            format!(
                "Your account's email address is now {new_email}. Notices no longer come to this address."
            ),
        ),
        Notice::Locked { until } => (
            "アカウントがロックされました",
            "Your account was locked",
            format!(
                "誤った入力が続いたため、{} までログインできません。",
                format_utc(*until)
            ),
            format!(
                "After too many wrong attempts, sign-in is locked until {}.",
                format_utc(*until)
            ),
        ),
        Notice::NewDevice { origin } => {
            let (ja_browser, en_browser) = match origin.user_agent.as_str() {
                "" => ("（不明）", "(unknown)"),
                ua => (ua, ua),
            };
            (
                "新しい端末からログインしました",
                "Sign-in from a new device",
                format!(
                    "新しい端末からログインしました。\nIPアドレス: {}\nブラウザ: {ja_browser}",
                    origin.ip
                ),
                format!(
                    "Someone signed in on a new device.\nIP address: {}\nBrowser: {en_browser}",
                    origin.ip
                ),
            )
        }
    };
    let subject = format!("[nidan] {ja_subject} / {en_subject}");
    let (ja_not_you, en_not_you) = match notice {
        Notice::Invitation { .. } => (
            "心当たりがない場合は、このメールを無視してください。",
            "If you did not expect this, ignore this email.",
        ),
        Notice::EmailChangeLink { .. } => (
            "心当たりがない場合は、このメールを無視してください。メールアドレスは変更されません。",
            "If you did not ask for this, ignore this email: nothing changes.",
        ),
        Notice::PasswordResetLink { .. } => (
            "心当たりがない場合は、このメールを無視してください。パスワードは変更されません。",
            "If you did not ask for this, ignore this email: your password stays as it is.",
        ),
        _ => (
            "心当たりがない場合は、すぐにパスワードを変更し、管理者に連絡してください。",
            "If this was not you, change your password now and tell your administrator.",
        ),
    };
    let body =
        format!("{ja}\n日時: {when}\n{ja_not_you}\n\n----\n\n{en}\nTime: {when}\n{en_not_you}\n");
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_in_both_languages_with_the_count() {
        let (subject, body) = compose(&Notice::BackupCodeUsed { left: 7 }, 0);
        assert!(subject.contains("バックアップコード") && subject.contains("backup code"));
        assert!(body.contains("残りのバックアップコードは 7 個"));
        assert!(body.contains("7 backup codes are left"));
        assert!(body.contains("1970-01-01 00:00 UTC"));
    }

    #[test]
    fn a_password_change_says_who_changed_it() {
        let (subject, own) = compose(&Notice::PasswordChanged { by_admin: false }, 0);
        assert!(subject.contains("パスワードが変更されました"), "{subject}");
        assert!(own.contains("ほかの端末はログアウトしました"), "{own}");
        let (_, admin) = compose(&Notice::PasswordChanged { by_admin: true }, 0);
        assert!(admin.contains("管理者が"), "{admin}");
        assert!(admin.contains("An administrator changed"), "{admin}");
    }

    #[tokio::test]
    async fn bad_settings_are_refused() {
        assert!(SmtpNotifier::new("ftp://x", "a@b.jp").is_err());
        assert!(SmtpNotifier::new("smtp://127.0.0.1:2525", "not an address").is_err());
    }
}
