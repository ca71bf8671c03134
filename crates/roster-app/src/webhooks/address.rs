//! Where a webhook may post. Only http(s), and, unless the operator allows it, never to this
//! machine or a private network: otherwise an organisation's admin could make Roster probe
//! the network it runs in. Checked when an endpoint is saved and again before each delivery
//! (a name may resolve elsewhere later).

use std::net::IpAddr;

/// Why an address is refused, in words for the admin.
pub async fn check(url: &str, allow_private: bool) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url.trim()).map_err(|_| format!("'{}' is not a URL", url.trim()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the URL must start with https:// (or http://)".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL must not hold a user name or password: the signature authenticates Roster".into());
    }
    let host = parsed.host_str().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| format!("{host} does not resolve"))?.map(|a| a.ip()).collect(),
    };
    if addresses.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    if let Some(ip) = addresses.iter().find(|ip| !is_public(ip)) {
        let named = if host == ip.to_string() { host } else { format!("{host} ({ip})") };
        return Err(format!("{named} is a private or local address: webhooks go to public addresses"));
    }
    Ok(parsed)
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_public_http_addresses_pass_unless_allowed() {
        for refused in [
            "http://127.0.0.1:9000/hook",
            "https://10.1.2.3/x",
            "http://[::1]/",
            "http://169.254.169.254/latest",
            "http://192.168.0.1",
            "ftp://example.com",
            "https://user:pw@93.184.216.34/",
        ] {
            assert!(check(refused, false).await.is_err(), "{refused}");
        }
        assert!(check("https://93.184.216.34/hook", false).await.is_ok());
        assert!(check("http://127.0.0.1:9000/hook", true).await.is_ok(), "allowed by the operator");
        assert!(check("not a url", true).await.is_err());
    }
}
