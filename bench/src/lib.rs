//! What the push-driven benches (`pushes`, `events`) share: the whole app on a
//! temporary SQLite store reading the simulator's clock, and pushes signed and
//! encrypted as WeChat sends them.

use std::sync::Arc;

use wxopen::app::App;
use wxopen::clock::Clock;
use wxopen::config::Config;
use wxopen::crypto::MsgCrypt;
use wxopen::store::sqlite::SqliteStore;
use wxopen_sim::SimHandle;

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// wxopen's clock reading the simulator's.
pub struct SimClock(pub SimHandle);

impl Clock for SimClock {
    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// The app for the simulator's component, public at `url`, on a SQLite file in
/// `dir` with credentials sealed at rest (as in production), plus `extra`
/// settings; also the store, for its operation counts.
pub fn sqlite_app(
    sim: &SimHandle,
    dir: &tempfile::TempDir,
    url: &str,
    extra: &[(&str, &str)],
) -> Result<(App, Arc<SqliteStore>), Failure> {
    let c = &sim.config().component;
    let path = dir.path().join("bench.db");
    let settings = [
        ("WXOPEN_COMPONENT_APPID", c.appid.clone()),
        ("WXOPEN_COMPONENT_SECRET", c.secret.expose().to_owned()),
        ("WXOPEN_MESSAGE_TOKEN", c.token.expose().to_owned()),
        (
            "WXOPEN_ENCODING_AES_KEY",
            c.encoding_aes_key.expose().to_owned(),
        ),
        ("WXOPEN_WECHAT_API_BASE", sim.base_url()),
        ("WXOPEN_PUBLIC_URL", url.to_owned()),
        (
            "WXOPEN_DATA_KEY",
            wxopen::crypto::at_rest::DataKeys::generate_key(),
        ),
        ("WXOPEN_STORE", format!("sqlite:{}", path.display())),
    ]
    .into_iter()
    .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_map(&settings)?;
    let store = Arc::new(SqliteStore::open(&path, &config.component_appid)?);
    let app = App::build(config, store.clone(), Arc::new(SimClock(sim.clone())), None)?;
    Ok((app, store))
}

/// (query, body) of a push to the account `user_name` whose decrypted XML is
/// `inner`, signed with `token` at `now`; `nonce` makes each one distinct.
pub fn signed_push(
    crypt: &MsgCrypt,
    token: &str,
    user_name: &str,
    now: u64,
    nonce: u64,
    inner: &str,
) -> (String, String) {
    let encrypt = crypt.encrypt(inner);
    let ts = now.to_string();
    let nonce = nonce.to_string();
    let msg_signature = crypt.msg_signature(&ts, &nonce, &encrypt);
    let signature = wxopen::crypto::signature(&[token, &ts, &nonce]);
    (
        format!("signature={signature}&timestamp={ts}&nonce={nonce}&openid=oBench&encrypt_type=aes&msg_signature={msg_signature}"),
        format!("<xml><ToUserName><![CDATA[{user_name}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
    )
}
