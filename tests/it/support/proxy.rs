//! A fault-injecting handler in front of moto, on the one loopback [`Server`] (so every request
//! the binary sends is also recorded: `proxy.server`), plus the stand-ins moto lacks:
//! - deny sts:AssumeRole into chosen accounts (403 AccessDenied);
//! - throttle every Lambda call of chosen targets (429 TooManyRequestsException), and once in a
//!   while a single call of the others (the SDK's retry absorbs it);
//! - hang every Lambda call of chosen targets; add latency to the export triggers;
//! - reject the credentials of chosen (account, region) pairs, as a disabled region does;
//! - page ListFunctions answers (moto returns one page);
//! - answer account:ListRegions (moto does not implement it) from a per-account table;
//! - stand in for API Gateway: `/apigw/<account>/<region>/<group>/v1/backup` checks the SigV4
//!   signature (service execute-api, the account's own assumed credentials) and, for the
//!   deployments marked as writers, writes the discovery object into the emulated bucket.
//!
//! The proxy learns which account an access key belongs to from the AssumeRole answers it relays.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::MAIN_ACCOUNT;
use super::server::{Reply, Request, Server, Upstream};

/// Faults and stand-in data, changeable while the proxy runs.
#[derive(Debug, Default)]
pub struct Faults {
    pub deny_assume: HashSet<String>,
    /// (account, region): every Lambda call answers 429.
    pub throttle: HashSet<(String, String)>,
    /// Throttle one Lambda call in this many (on other targets); 0: never.
    pub transient_throttle_every: usize,
    /// (account, region): every Lambda call hangs.
    pub hang: HashSet<(String, String)>,
    /// (account, region): credentials rejected as in a region the account has not enabled.
    pub region_disabled: HashSet<(String, String)>,
    /// Added before relaying a trigger (Interact invoke, API Gateway backup).
    pub trigger_latency: Duration,
    /// Page ListFunctions answers to this many functions.
    pub list_page_size: Option<usize>,
    /// account → (region, opt-in status) for account:ListRegions; others get `default_regions`.
    pub regions: HashMap<String, Vec<(String, String)>>,
    pub default_regions: Vec<(String, String)>,
    /// API Gateway stand-in: deployments (account, region, group) that write their discovery
    /// object when triggered; the bucket and key prefix they write to.
    pub writers: HashSet<(String, String, String)>,
    /// API Gateway stand-in: deployments (account, region, group) answered with this redirect
    /// status, `Location` another path of this server (`/moved/...`, which nothing serves).
    pub redirect: HashMap<(String, String, String), u16>,
    pub bucket: String,
    pub prefix: String,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub throttled: AtomicUsize,
    pub hung: AtomicUsize,
    pub denied: AtomicUsize,
    /// AssumeRole calls relayed to moto (not denied).
    pub assumed: AtomicUsize,
    pub apigw_ok: AtomicUsize,
    pub apigw_bad_signature: AtomicUsize,
    pub written: AtomicUsize,
    pub triggers: AtomicUsize,
}

struct State {
    upstream: Upstream,
    faults: Mutex<Faults>,
    /// access key id → (account, secret)
    keys: Mutex<HashMap<String, (String, String)>>,
    counters: Counters,
    seen: AtomicUsize,
    s3: aws_sdk_s3::Client,
}

pub struct Proxy {
    pub endpoint: String,
    state: Arc<State>,
    /// The server: every request the binary sent, as received.
    pub server: Server,
}

impl Proxy {
    pub fn start(moto: &super::Moto) -> Self {
        let state = Arc::new(State {
            upstream: Upstream::new(&moto.endpoint),
            faults: Mutex::new(Faults::default()),
            keys: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            seen: AtomicUsize::new(0),
            s3: moto.s3(),
        });
        let handler_state = state.clone();
        let server = Server::start(move |req| handle(handler_state.clone(), req));
        Self {
            endpoint: server.endpoint.clone(),
            state,
            server,
        }
    }

    /// Change the faults.
    pub fn faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R {
        f(&mut self.state.faults.lock().unwrap())
    }

    pub fn counters(&self) -> &Counters {
        &self.state.counters
    }

    /// The member account an access key was issued for (by an AssumeRole the proxy relayed).
    pub fn account_of(&self, access_key: &str) -> Option<String> {
        self.state
            .keys
            .lock()
            .unwrap()
            .get(access_key)
            .map(|(account, _)| account.clone())
    }

    /// The API Gateway URL the stand-in serves for a deployment: an AWS-form URL whose path the
    /// binary sends to `--endpoint-url` (this proxy), the only override of the apigw guard.
    pub fn apigw_url(&self, account: &str, region: &str, group: &str) -> String {
        let api_id = &account[account.len().saturating_sub(10)..];
        format!(
            "https://{api_id}.execute-api.{region}.amazonaws.com/apigw/{account}/{region}/{group}/v1/"
        )
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

async fn handle(st: Arc<State>, req: Request) -> Reply {
    let path = req.path().to_string();
    if path.starts_with("/apigw/") {
        return apigw(st, req).await;
    }
    let (akid, region, service) = req
        .scope()
        .map(|s| (s.access_key, s.region, s.service))
        .unwrap_or_default();
    let account = st
        .keys
        .lock()
        .unwrap()
        .get(&akid)
        .map(|(a, _)| a.clone())
        .unwrap_or_else(|| MAIN_ACCOUNT.to_string());
    let target = (account.clone(), region.clone());
    let n = st.seen.fetch_add(1, Ordering::SeqCst) + 1;

    // account:ListRegions (not in moto).
    if service == "account" && path.ends_with("/listRegions") {
        let faults = st.faults.lock().unwrap();
        let regions = faults
            .regions
            .get(&account)
            .unwrap_or(&faults.default_regions);
        let list: Vec<String> = regions
            .iter()
            .map(|(r, s)| format!(r#"{{"RegionName":"{r}","RegionOptStatus":"{s}"}}"#))
            .collect();
        return Reply::json(200, format!(r#"{{"Regions":[{}]}}"#, list.join(",")));
    }

    let mut assume_target = None;
    if service == "sts" && req.action() == "AssumeRole" {
        let role_arn = req.form().remove("RoleArn").unwrap_or_default();
        if let Some(arn_account) = between(&role_arn, "arn:aws:iam::", ":role/") {
            let arn_account = arn_account.to_string();
            if st.faults.lock().unwrap().deny_assume.contains(&arn_account) {
                st.counters.denied.fetch_add(1, Ordering::SeqCst);
                return Reply::xml(
                    403,
                    format!(
                        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::{MAIN_ACCOUNT}:user/central is not authorized to perform: sts:AssumeRole on resource: {role_arn}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"#
                    ),
                );
            }
            st.counters.assumed.fetch_add(1, Ordering::SeqCst);
            assume_target = Some(arn_account);
        }
    }

    let mut list_marker: Option<(usize, usize)> = None;
    if service == "lambda" {
        let (throttle, hang, disabled, transient, latency, page) = {
            let f = st.faults.lock().unwrap();
            (
                f.throttle.contains(&target),
                f.hang.contains(&target),
                f.region_disabled.contains(&target),
                f.transient_throttle_every,
                f.trigger_latency,
                f.list_page_size,
            )
        };
        if disabled {
            return Reply::aws_error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            );
        }
        if hang {
            st.counters.hung.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if throttle || (transient > 0 && n.is_multiple_of(transient)) {
            st.counters.throttled.fetch_add(1, Ordering::SeqCst);
            return Reply::aws_error(429, "TooManyRequestsException", "Rate exceeded");
        }
        if path.contains("/functions/CloneSquad-Interact-") && path.ends_with("/invocations") {
            st.counters.triggers.fetch_add(1, Ordering::SeqCst);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
        }
        if let Some(size) = page
            && req.method == hyper::Method::GET
            && path.trim_end_matches('/').ends_with("/functions")
        {
            let offset = req
                .query_param("Marker")
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            list_marker = Some((offset, size));
        }
    }

    let reply = st.upstream.send(&req).await;

    if let Some(account) = assume_target {
        let text = reply.text();
        if let (Some(id), Some(secret)) = (
            between(&text, "<AccessKeyId>", "</AccessKeyId>"),
            between(&text, "<SecretAccessKey>", "</SecretAccessKey>"),
        ) {
            st.keys
                .lock()
                .unwrap()
                .insert(id.to_string(), (account, secret.to_string()));
        }
    }

    match list_marker {
        Some((offset, size)) if (200..300).contains(&reply.status) => reply.map_json(|v| {
            let all = v["Functions"].as_array().cloned().unwrap_or_default();
            let page: Vec<_> = all.iter().skip(offset).take(size).cloned().collect();
            v["Functions"] = serde_json::Value::Array(page);
            if offset + size < all.len() {
                v["NextMarker"] = serde_json::Value::String((offset + size).to_string());
            }
        }),
        _ => reply,
    }
}

/// The API Gateway stand-in for `GET <InteractAPIGWUrl>backup`.
async fn apigw(st: Arc<State>, req: Request) -> Reply {
    let path = req.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // apigw / account / region / group / v1 / backup
    let [_, account, region, group, "v1", "backup"] = segments.as_slice() else {
        return Reply::new(404, "text/plain", "no such route");
    };
    let (account, region, group) = (account.to_string(), region.to_string(), group.to_string());
    if req.method != hyper::Method::GET {
        return Reply::new(405, "text/plain", "GET only");
    }
    // SigV4: scope names execute-api in this region, the key belongs to the account, and the
    // signature recomputed with the key's secret matches.
    let Some(super::server::Scope {
        access_key: akid,
        region: sregion,
        service,
    }) = req.scope()
    else {
        st.counters
            .apigw_bad_signature
            .fetch_add(1, Ordering::SeqCst);
        return Reply::json(403, r#"{"message":"Missing Authentication Token"}"#);
    };
    let key = st.keys.lock().unwrap().get(&akid).cloned();
    let valid = service == "execute-api"
        && sregion == region
        && key.as_ref().is_some_and(|(a, secret)| {
            a == &account && signature_matches(&req, &akid, secret, &region)
        });
    if !valid {
        st.counters
            .apigw_bad_signature
            .fetch_add(1, Ordering::SeqCst);
        return Reply::json(
            403,
            r#"{"message":"The request signature we calculated does not match the signature you provided."}"#,
        );
    }
    let redirect = st
        .faults
        .lock()
        .unwrap()
        .redirect
        .get(&(account.clone(), region.clone(), group.clone()))
        .copied();
    if let Some(status) = redirect {
        let host = req.header("host").unwrap_or("127.0.0.1").to_string();
        let mut reply = Reply::new(status, "text/plain", "moved");
        reply.headers.push((
            "location".into(),
            format!("http://{host}/moved/{account}/{region}/{group}/v1/backup"),
        ));
        return reply;
    }
    st.counters.apigw_ok.fetch_add(1, Ordering::SeqCst);
    st.counters.triggers.fetch_add(1, Ordering::SeqCst);
    let (latency, writes, bucket, prefix) = {
        let f = st.faults.lock().unwrap();
        (
            f.trigger_latency,
            f.writers
                .contains(&(account.clone(), region.clone(), group.clone())),
            f.bucket.clone(),
            f.prefix.clone(),
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if writes {
        let now = chrono::Utc::now().naive_utc();
        let record = serde_json::json!({
            "AccountId": account,
            "GroupName": group,
            "CloneSquadVersion": "v0.27.1",
            "MetadataRecordLastUpdatedAt": now.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            "MetadataAndBackupS3Path": format!("s3://{bucket}/{prefix}"),
            "Subfleets": [],
        });
        let key = format!(
            "{prefix}/metadata/discovery/accountid={account}/region={region}/groupname={group}/{account}-{region}-discovery-cs-{group}.json"
        );
        let put = st
            .s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(record.to_string().into_bytes().into())
            .send()
            .await;
        if let Err(e) = put {
            return Reply::new(
                500,
                "text/plain",
                format!("stand-in could not write {key}: {e:?}"),
            );
        }
        st.counters.written.fetch_add(1, Ordering::SeqCst);
    }
    Reply::json(
        200,
        format!(
            "\"Exported Configuration/Scheduler backups and metadata to s3://{bucket}/{prefix}.\""
        ),
    )
}

fn signature_matches(req: &Request, akid: &str, secret: &str, region: &str) -> bool {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let header = |name: &str| req.header(name);
    let Some(auth) = header("authorization") else {
        return false;
    };
    let Some(given) = auth.split("Signature=").nth(1) else {
        return false;
    };
    let signed: Vec<&str> = between(auth, "SignedHeaders=", ",")
        .unwrap_or_default()
        .split(';')
        .collect();
    let Some(time) = header("x-amz-date")
        .and_then(|d| chrono::NaiveDateTime::parse_from_str(d, "%Y%m%dT%H%M%SZ").ok())
        .map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs(t.and_utc().timestamp() as u64))
    else {
        return false;
    };
    let token = header("x-amz-security-token").map(String::from);
    let identity =
        aws_credential_types::Credentials::new(akid, secret, token, None, "check").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = header("host").unwrap_or_default();
    let url = format!("http://{host}{}", req.uri);
    let headers: BTreeMap<&str, &str> = req
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            signed.contains(&k)
                && !matches!(
                    k,
                    "host" | "x-amz-date" | "x-amz-security-token" | "authorization"
                )
        })
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let Ok(signable) = SignableRequest::new(
        req.method.as_str(),
        url,
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    ) else {
        return false;
    };
    match sign(signable, &params) {
        Ok(out) => out.signature() == given,
        Err(_) => false,
    }
}
