//! API keys (`ApiKeyStore`).

use super::*;

pub async fn api_keys_put_get_list_revoke(store: Store) {
    let k1 = api_key("aaaa1111", NOW, TenantScope::All);
    let k2 = api_key(
        "bbbb2222",
        NOW + 1,
        TenantScope::Only(vec!["tenant-a".into(), "tenant-b".into()]),
    );
    store.put_api_key(&k1).await.unwrap();
    store.put_api_key(&k2).await.unwrap();
    assert_eq!(
        store.get_api_key("bbbb2222").await.unwrap(),
        Some(k2.clone())
    );
    let mut listed = store.list_api_keys().await.unwrap();
    listed.sort_by(|a, b| a.hash.cmp(&b.hash));
    assert_eq!(listed, vec![k1.clone(), k2.clone()]);
    assert!(store.revoke_api_key("aaaa1111").await.unwrap());
    assert!(
        store
            .get_api_key("aaaa1111")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(
        !store
            .get_api_key("bbbb2222")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(!store.revoke_api_key("cccc3333").await.unwrap());
    assert_eq!(store.get_api_key("cccc3333").await.unwrap(), None);
}
