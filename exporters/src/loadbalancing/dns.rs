//! A stub DNS client for `resolver.dns.nameserver`: one A and one AAAA question over UDP
//! (RFC 1035), answers read back to addresses. Only what the resolver needs: no recursion
//! of its own, no TCP fallback (a name with more backends than a UDP answer holds is out of
//! scope), no caching (the resolver asks every `interval`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_NXDOMAIN: u8 = 3;

/// Why a lookup failed (as opposed to finding no address).
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("DNS over UDP to {server}: {source}")]
    Io {
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("no DNS answer from {0} in time")]
    Timeout(SocketAddr),
    #[error("malformed DNS answer from {server}: {what}")]
    Malformed {
        server: SocketAddr,
        what: &'static str,
    },
    #[error("DNS server {server} answered rcode {rcode}")]
    Rcode { server: SocketAddr, rcode: u8 },
    #[error("{0:?} is not a DNS name")]
    BadName(String),
}

/// The A and AAAA addresses of `name` according to `server`. An unknown name
/// (NXDOMAIN) is an empty list.
pub async fn lookup(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<IpAddr>, DnsError> {
    let io = |source| DnsError::Io { server, source };
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    let mut addresses = Vec::new();
    for (n, qtype) in [TYPE_A, TYPE_AAAA].into_iter().enumerate() {
        let id = (rand::random::<u16>() & 0xfff0) | n as u16;
        socket.send(&query(id, name, qtype)?).await.map_err(io)?;
        let mut buffer = [0u8; 1500];
        let answer = loop {
            let len = tokio::time::timeout(timeout, socket.recv(&mut buffer))
                .await
                .map_err(|_| DnsError::Timeout(server))?
                .map_err(io)?;
            // Late answers to an earlier question are skipped.
            if len >= 2 && u16::from_be_bytes([buffer[0], buffer[1]]) == id {
                break &buffer[..len];
            }
        };
        addresses.extend(parse(answer, server)?);
    }
    Ok(addresses)
}

/// A standard query with recursion desired.
fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let mut out = Vec::with_capacity(32 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(DnsError::BadName(name.to_string()));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// The addresses in the answer section of a response.
fn parse(message: &[u8], server: SocketAddr) -> Result<Vec<IpAddr>, DnsError> {
    let bad = |what| DnsError::Malformed { server, what };
    if message.len() < 12 || message[2] & 0x80 == 0 {
        return Err(bad("not a response"));
    }
    let rcode = message[3] & 0x0f;
    if rcode == RCODE_NXDOMAIN {
        return Ok(Vec::new());
    }
    if rcode != 0 {
        return Err(DnsError::Rcode { server, rcode });
    }
    let count = |at: usize| u16::from_be_bytes([message[at], message[at + 1]]) as usize;
    let (questions, answers) = (count(4), count(6));
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(message, at).ok_or_else(|| bad("question name"))? + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..answers {
        at = skip_name(message, at).ok_or_else(|| bad("answer name"))?;
        let header = message
            .get(at..at + 10)
            .ok_or_else(|| bad("answer header"))?;
        let rtype = u16::from_be_bytes([header[0], header[1]]);
        let length = u16::from_be_bytes([header[8], header[9]]) as usize;
        let data = message
            .get(at + 10..at + 10 + length)
            .ok_or_else(|| bad("answer data"))?;
        match (rtype, length) {
            (TYPE_A, 4) => addresses.push(IpAddr::from(<[u8; 4]>::try_from(data).expect("4"))),
            (TYPE_AAAA, 16) => {
                addresses.push(IpAddr::from(<[u8; 16]>::try_from(data).expect("16")))
            }
            // CNAMEs and other records: the server already followed the chain.
            _ => {}
        }
        at += 10 + length;
    }
    Ok(addresses)
}

/// The offset after a (possibly compressed) name.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *message.get(at)? as usize;
        if len == 0 {
            return Some(at + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Some(at + 2).filter(|end| *end <= message.len());
        }
        at += 1 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses_after_compressed_names() {
        let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let mut message = query(7, "backends.test", TYPE_A).unwrap();
        message[2] |= 0x80; // response
        message[7] = 2; // two answers
        for last in [2u8, 3] {
            // Name as a pointer to the question (offset 12), A, IN, TTL 5, 4 bytes.
            message.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 0, 0, last]);
        }
        let addresses = parse(&message, server).unwrap();
        assert_eq!(
            addresses,
            vec![
                "127.0.0.2".parse::<IpAddr>().unwrap(),
                "127.0.0.3".parse().unwrap()
            ]
        );
        message[3] = RCODE_NXDOMAIN;
        assert!(parse(&message, server).unwrap().is_empty());
        message[3] = 2;
        assert!(matches!(
            parse(&message, server),
            Err(DnsError::Rcode { .. })
        ));
        assert!(parse(&message[..20], server).is_err());
    }
}
