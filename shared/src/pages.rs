//! The merchant-facing HTML pages of the authorization flow: the start page,
//! the result page and the error pages. Server-rendered with maud (every value
//! is escaped), Chinese first and English second, readable on a phone, with
//! inline CSS only: no script, font or image of our own is fetched.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::{html, Markup, DOCTYPE};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// A sentence in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bilingual<'a> {
    pub zh: &'a str,
    pub en: &'a str,
}

const fn bi<'a>(zh: &'a str, en: &'a str) -> Bilingual<'a> {
    Bilingual { zh, en }
}

// Each title and sentence is Chinese first, English below it, never on top of
// it: no negative margins (a `.zh+.en` pull-up once made the h1's lines
// overlap), and long words wrap instead of widening the card on a phone.
const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;background:#f5f6f7;color:#1f2329;font:16px/1.6 -apple-system,BlinkMacSystemFont,\"PingFang SC\",\"Hiragino Sans GB\",\"Microsoft YaHei\",\"Segoe UI\",Roboto,\"Noto Sans CJK SC\",sans-serif}\
main{max-width:30rem;margin:0 auto;padding:2.5rem 1.25rem}\
.card{background:#fff;border-radius:12px;padding:1.75rem 1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08);overflow-wrap:anywhere}\
h1{font-size:1.35rem;line-height:1.4;margin:0 0 1rem}\
h1 .zh,h1 .en{display:block}\
h1 .en{font-size:1rem;line-height:1.4;font-weight:500;color:#646a73;margin-top:.25rem}\
p{margin:.9rem 0}\
.en{color:#646a73;font-size:.92em}\
p.zh+p.en{margin-top:-.5rem}\
.button{display:block;text-align:center;background:#07c160;color:#fff;text-decoration:none;border-radius:8px;padding:.85rem 1rem;margin:1.5rem 0 .5rem;font-weight:600}\
.button .zh,.button .en{display:block}\
.button .en{color:#e8fff1;font-weight:400;font-size:.85em}\
.account{display:flex;align-items:center;gap:.9rem;margin:1.25rem 0;padding:.9rem;border:1px solid #e5e6eb;border-radius:8px}\
.account img,.account .initial{width:48px;height:48px;border-radius:50%;background:#e5e6eb;flex:none}\
.account .initial{display:flex;align-items:center;justify-content:center;font-size:1.3rem;font-weight:600;color:#646a73}\
.account strong{display:block;font-size:1.1rem;word-break:break-all}\
.account code{color:#646a73;font-size:.85rem;word-break:break-all}\
.note{font-size:.85rem}\
.mark{font-size:2.5rem;line-height:1;margin:0 0 .75rem}\
.ok{color:#07c160}.bad{color:#f54a45}";

/// The `Content-Security-Policy` of every page: nothing runs, nothing is
/// framed or submitted, and the only style is [`STYLE`], allowed by its hash
/// (a style attribute or a second `<style>` would be refused by the browser).
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let style_hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; img-src https: http:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
});

fn layout(title: Bilingual, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title.zh) " · " (title.en) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                main { div class="card" { (body) } }
            }
        }
    }
    .into_string()
}

fn heading(title: Bilingual) -> Markup {
    html! {
        h1 id="title" { span class="zh" { (title.zh) } span class="en" lang="en" { (title.en) } }
    }
}

fn para(text: Bilingual) -> Markup {
    html! {
        p class="zh" { (text.zh) }
        p class="en" lang="en" { (text.en) }
    }
}

/// What the start page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartPage<'a> {
    /// WeChat's authorization page, with the fresh pre_auth_code.
    pub wechat_url: &'a str,
    /// The PC page shows a QR code for the administrator to scan.
    pub qr_code: bool,
    /// A phone browser other than WeChat's: suggest opening the link in WeChat.
    pub open_in_wechat_hint: bool,
}

/// The page a merchant opens from the link: what happens, and one button to WeChat.
pub fn start_page(page: &StartPage) -> String {
    let title = bi("授权公众号", "Authorize your Official Account");
    layout(
        title,
        html! {
            (heading(title))
            (para(bi(
                "请点击下方按钮，在微信页面上由公众号管理员确认授权。授权后，本平台即可代您的公众号发送模板消息和群发消息。",
                "Tap the button below and have your account's administrator confirm on WeChat's page. Once authorized, this platform can send template and mass messages for your account.",
            )))
            @if page.qr_code {
                (para(bi("微信页面会显示二维码，请用管理员的微信扫码确认。", "WeChat's page shows a QR code: scan it with the administrator's WeChat to confirm.")))
            }
            @if page.open_in_wechat_hint {
                (para(bi("在手机上，请在微信中打开此链接；也可以在电脑上打开。", "On a phone, please open this link inside WeChat, or open it on a computer.")))
            }
            a id="authorize" class="button" href=(page.wechat_url) {
                span class="zh" { "前往微信授权" }
                span class="en" lang="en" { "Authorize in WeChat" }
            }
            p class="note zh" { "您可以随时在微信公众平台取消授权。" }
            p class="note en" lang="en" { "You can revoke the authorization at any time on the WeChat Official Accounts Platform." }
        },
    )
}

/// The account an authorization concerns, as the pages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountView<'a> {
    pub appid: &'a str,
    /// The account's name; the appid stands in when WeChat gave none.
    pub name: Option<&'a str>,
    /// Shown when it is an http(s) URL (WeChat's avatar CDN answers both);
    /// otherwise the name's first letter stands in.
    pub avatar: Option<&'a str>,
}

fn account_card(account: &AccountView) -> Markup {
    let avatar = account
        .avatar
        .filter(|a| a.starts_with("https://") || a.starts_with("http://"));
    let name = account.name.unwrap_or(account.appid);
    html! {
        div class="account" id="account" {
            @if let Some(src) = avatar {
                img src=(src) alt="" width="48" height="48" referrerpolicy="no-referrer";
            } @else {
                span class="initial" aria-hidden="true" { (name.chars().next().unwrap_or('?')) }
            }
            div {
                strong id="account-name" { (name) }
                code id="account-appid" { (account.appid) }
            }
        }
    }
}

/// The authorization succeeded.
pub fn result_page(account: &AccountView) -> String {
    let title = bi("授权成功", "Authorization complete");
    layout(
        title,
        html! {
            p class="mark ok" aria-hidden="true" { "✓" }
            (heading(title))
            (para(bi("以下公众号已授权给本平台：", "This account is now authorized for this platform:")))
            (account_card(account))
            (para(bi("您可以关闭此页面。", "You can close this page.")))
        },
    )
}

/// Why the flow stopped, and what the merchant can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem<'a> {
    pub title: Bilingual<'a>,
    pub reason: Bilingual<'a>,
    pub what_to_do: Bilingual<'a>,
    /// The account concerned, when known.
    pub account: Option<AccountView<'a>>,
}

/// A friendly error page.
pub fn problem_page(problem: &Problem) -> String {
    layout(
        problem.title,
        html! {
            p class="mark bad" aria-hidden="true" { "!" }
            (heading(problem.title))
            div id="reason" { (para(problem.reason)) }
            @if let Some(account) = &problem.account {
                (account_card(account))
            }
            div id="what-to-do" { (para(problem.what_to_do)) }
        },
    )
}

/// The problems of the flow, worded once.
pub mod problems {
    use super::{bi, AccountView, Problem};

    const ASK_FOR_NEW_LINK: super::Bilingual<'static> = bi(
        "请联系向您发送链接的服务商，索取新的授权链接。",
        "Please ask whoever sent you this link for a new one.",
    );

    /// Web OAuth (issue 16): the customer's link is unknown or its time ran out.
    pub fn oauth_link_gone() -> Problem<'static> {
        Problem {
            title: bi("链接无效或已过期", "This link is not valid or has expired"),
            reason: bi(
                "找不到这个链接，或它已过期。",
                "We could not find this link, or its time has run out.",
            ),
            what_to_do: bi(
                "请回到原来的页面重新打开链接。",
                "Please go back to the page that sent you here and open the link again.",
            ),
            account: None,
        }
    }

    /// Web OAuth: WeChat's redirect carried no state we issued, or one already used.
    pub fn oauth_state_refused() -> Problem<'static> {
        Problem {
            title: bi("请求已失效", "This request is no longer valid"),
            reason: bi(
                "这个授权请求已经使用过、已过期或不完整。",
                "This authorization request was already used, has expired or is incomplete.",
            ),
            what_to_do: bi(
                "请重新打开原来的链接。",
                "Please open the original link again.",
            ),
            account: None,
        }
    }

    /// Web OAuth: the answer names another account than the link's.
    pub fn oauth_wrong_account() -> Problem<'static> {
        Problem {
            title: bi("授权结果不匹配", "This answer does not match the request"),
            reason: bi(
                "微信返回的公众号与请求的不一致。",
                "WeChat answered for another official account than the one asked for.",
            ),
            what_to_do: bi(
                "请重新打开原来的链接。",
                "Please open the original link again.",
            ),
            account: None,
        }
    }

    /// Web OAuth: WeChat refused the code (used or invalid).
    pub fn oauth_code_refused() -> Problem<'static> {
        Problem {
            title: bi("授权已失效", "This authorization is no longer valid"),
            reason: bi(
                "微信的授权码已使用或无效。",
                "WeChat's code was already used or is not valid.",
            ),
            what_to_do: bi(
                "请重新打开原来的链接。",
                "Please open the original link again.",
            ),
            account: None,
        }
    }

    /// No such link (mistyped or cut off).
    pub fn unknown_link() -> Problem<'static> {
        Problem {
            title: bi("链接无效", "This link is not valid"),
            reason: bi(
                "找不到这个授权链接，可能是链接不完整。",
                "We could not find this authorization link; it may be incomplete.",
            ),
            what_to_do: bi(
                "请检查链接是否完整复制；如仍无法打开，请索取新的授权链接。",
                "Check that the whole link was copied; if it still fails, ask for a new link.",
            ),
            account: None,
        }
    }

    /// The link's time ran out.
    pub fn expired_link() -> Problem<'static> {
        Problem {
            title: bi("链接已过期", "This link has expired"),
            reason: bi(
                "为了安全，授权链接只在一段时间内有效。",
                "For safety, authorization links are valid for a limited time only.",
            ),
            what_to_do: ASK_FOR_NEW_LINK,
            account: None,
        }
    }

    /// The link already authorized an account.
    pub fn used_link(account: Option<AccountView<'_>>) -> Problem<'_> {
        Problem {
            title: bi("链接已使用", "This link has already been used"),
            reason: bi(
                "每个授权链接只能使用一次，此链接已完成过授权。",
                "Each authorization link works once, and this one has already been used.",
            ),
            what_to_do: bi(
                "如需授权其他公众号，请索取新的授权链接。",
                "To authorize another account, please ask for a new link.",
            ),
            account,
        }
    }

    /// WeChat sent the browser back without a code.
    pub fn missing_code() -> Problem<'static> {
        Problem {
            title: bi("授权未完成", "Authorization was not completed"),
            reason: bi(
                "微信没有返回授权结果。",
                "WeChat did not send back an authorization.",
            ),
            what_to_do: bi(
                "请重新打开授权链接，并在微信页面上确认授权。",
                "Open the authorization link again and confirm on WeChat's page.",
            ),
            account: None,
        }
    }

    /// WeChat refused the code (used, invalid or expired).
    pub fn code_refused() -> Problem<'static> {
        Problem {
            title: bi("授权已失效", "This authorization is no longer valid"),
            reason: bi(
                "微信不再接受这次授权，可能是等待时间过长。",
                "WeChat no longer accepts this authorization; it may have taken too long.",
            ),
            what_to_do: bi(
                "请重新打开授权链接，再授权一次。",
                "Open the authorization link again and authorize once more.",
            ),
            account: None,
        }
    }

    /// The account belongs to another tenant; nothing was changed.
    pub fn tenant_conflict(account: AccountView<'_>) -> Problem<'_> {
        Problem {
            title: bi("该公众号已绑定其他商户", "This account is linked to another customer"),
            reason: bi(
                "此公众号已通过本平台绑定到其他商户，本次授权未做任何更改。",
                "This account is already linked to another customer of this platform; nothing was changed.",
            ),
            what_to_do: bi(
                "如需更换绑定，请联系向您发送链接的服务商。",
                "To move it, please contact whoever sent you this link.",
            ),
            account: Some(account),
        }
    }

    /// WeChat (or our store) is failing for now; a reload may succeed.
    pub fn try_again_later() -> Problem<'static> {
        Problem {
            title: bi("服务暂时不可用", "Temporarily unavailable"),
            reason: bi(
                "微信或本平台暂时没有响应。",
                "WeChat or this platform is not responding right now.",
            ),
            what_to_do: bi(
                "请稍等片刻后刷新此页面重试。",
                "Please wait a moment, then reload this page to try again.",
            ),
            account: None,
        }
    }

    /// WeChat refused the platform's request for another reason.
    pub fn wechat_refused() -> Problem<'static> {
        Problem {
            title: bi("微信拒绝了请求", "WeChat refused the request"),
            reason: bi("微信暂时无法完成此次授权。", "WeChat could not complete this authorization."),
            what_to_do: bi(
                "请稍后重新打开授权链接；如问题持续，请联系向您发送链接的服务商。",
                "Open the link again later; if this keeps happening, contact whoever sent you the link.",
            ),
            account: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let page = result_page(&AccountView {
            appid: "wx1",
            name: Some("<script>alert(1)</script>"),
            avatar: None,
        });
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
    }

    #[test]
    fn the_start_page_links_to_wechat_with_the_query_escaped() {
        let page = start_page(&StartPage {
            wechat_url: "https://mp.weixin.qq.com/cgi-bin/componentloginpage?a=1&b=\"x\"",
            qr_code: true,
            open_in_wechat_hint: false,
        });
        assert!(page.contains(
            "href=\"https://mp.weixin.qq.com/cgi-bin/componentloginpage?a=1&amp;b=&quot;x&quot;\""
        ));
        assert!(page.contains("name=\"viewport\""));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn only_web_avatars_are_shown_and_the_initial_stands_in_otherwise() {
        let with = |avatar| {
            result_page(&AccountView {
                appid: "wx1",
                name: None,
                avatar: Some(avatar),
            })
        };
        assert!(with("https://wx.qlogo.cn/x/0").contains("<img"));
        assert!(with("http://wx.qlogo.cn/mmopen/x/0").contains("<img"));
        let script = with("javascript:alert(1)");
        assert!(!script.contains("<img") && !script.contains("javascript:"));
        assert!(script.contains("<span class=\"initial\" aria-hidden=\"true\">w</span>"));
        assert!(!with("data:image/png;base64,AAAA").contains("<img"));
    }

    /// Every page's one `<style>` is the one the policy allows by hash: a
    /// change to [`STYLE`] that left the hash behind would leave the pages
    /// unstyled in every browser, and a second style or a script would be
    /// refused.
    #[test]
    fn every_page_has_only_the_style_its_content_security_policy_allows() {
        let account = AccountView {
            appid: "wx1",
            name: Some("n"),
            avatar: Some("https://wx.qlogo.cn/x/0"),
        };
        let pages = [
            start_page(&StartPage {
                wechat_url: "https://mp.weixin.qq.com/cgi-bin/componentloginpage?a=1",
                qr_code: true,
                open_in_wechat_hint: true,
            }),
            result_page(&account),
            problem_page(&problems::unknown_link()),
            problem_page(&problems::used_link(Some(account))),
            problem_page(&problems::tenant_conflict(account)),
        ];
        let policy = CONTENT_SECURITY_POLICY.as_str();
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.contains(directive), "{policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        for page in pages {
            let (_, rest) = page.split_once("<style>").unwrap_or_default();
            let (style, after) = rest.split_once("</style>").unwrap_or_default();
            let hash = STANDARD.encode(Sha256::digest(style.as_bytes()));
            assert!(
                policy.contains(&format!("style-src 'sha256-{hash}'")),
                "{page}"
            );
            assert!(
                !after.contains("<style") && !page.contains("style=\""),
                "{page}"
            );
            assert!(!page.contains("<script"), "{page}");
        }
    }

    #[test]
    fn the_appid_names_an_account_without_a_name() {
        let page = result_page(&AccountView {
            appid: "wx5add0a0000000001",
            name: None,
            avatar: None,
        });
        assert!(page.contains("<strong id=\"account-name\">wx5add0a0000000001</strong>"));
    }
}
