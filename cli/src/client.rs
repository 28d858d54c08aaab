//! Talking to bgpd's control socket: one JSON request line, one JSON
//! answer line. `show route` is fetched page by page and put together.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use ferry_control::{sort_routes, Body, Request, Response, RouteQuery, MAX_ROUTE_PAGE};

/// Asks one question; the error is one line naming the socket.
pub fn ask(socket: &Path, request: &Request) -> Result<Body, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                " (is bgpd running?)"
            }
            std::io::ErrorKind::PermissionDenied => {
                " (run bgpctl as root or as the socket's owner)"
            }
            _ => "",
        };
        format!("cannot connect to {}: {e}{hint}", socket.display())
    })?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut line = serde_json::to_string(request).map_err(|e| e.to_string())?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("writing to {}: {e}", socket.display()))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| format!("reading from {}: {e}", socket.display()))?;
    if answer.is_empty() {
        return Err(format!(
            "{}: bgpd closed the connection without answering",
            socket.display()
        ));
    }
    match serde_json::from_str::<Response>(&answer) {
        Ok(Response::Ok { body }) => Ok(body),
        Ok(Response::Error { message }) => Err(message),
        Err(e) => Err(format!("{}: unreadable answer: {e}", socket.display())),
    }
}

/// Asks for every route `query` selects, [`MAX_ROUTE_PAGE`] per request,
/// and puts the pages together in `show route` order.
pub fn ask_routes(socket: &Path, query: &RouteQuery) -> Result<Body, String> {
    let mut query = RouteQuery {
        limit: Some(MAX_ROUTE_PAGE),
        after: None,
        ..query.clone()
    };
    let mut all = Vec::new();
    loop {
        match ask(socket, &Request::Routes(query.clone()))? {
            Body::Routes { routes, next } => {
                all.extend(routes);
                match next {
                    Some(key) => query.after = Some(key),
                    None => break,
                }
            }
            other => return Ok(other),
        }
    }
    sort_routes(&mut all);
    Ok(Body::Routes {
        routes: all,
        next: None,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use ferry_control::{Family, RouteEntry};

    use super::*;

    fn route(prefix: &str, best: bool) -> RouteEntry {
        RouteEntry {
            family: Family(ferry_wire::Family::IPV4_UNICAST),
            rd: None,
            nlri: prefix.into(),
            prefix: prefix.into(),
            best,
            from: "local".into(),
            next_hop: "10.0.0.1".into(),
            as_path: "I".into(),
            local_pref: Some(100),
            med: None,
            origin: "IGP".into(),
            communities: vec![],
            extended_communities: vec![],
            originator_id: None,
            cluster_list: vec![],
            label: None,
            eligible: true,
        }
    }

    /// `show route` asks page after page, each after the key the previous
    /// answer gave, and shows them together in order.
    #[test]
    fn routes_are_fetched_page_by_page() {
        let dir = std::env::temp_dir().join(format!("bgpctl-paging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bgpd.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let pages = [
            (vec![route("10.0.2.0/24", true)], Some("k1")),
            (vec![route("10.0.1.0/24", true)], Some("k2")),
            (vec![route("10.0.0.0/24", true)], None),
        ];
        let daemon = std::thread::spawn(move || {
            let mut asked = Vec::new();
            for (routes, next) in pages {
                let (stream, _) = listener.accept().unwrap();
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).unwrap();
                let Request::Routes(q) = serde_json::from_str(&line).unwrap() else {
                    panic!("not a route query: {line}");
                };
                asked.push(q);
                let answer = Response::Ok {
                    body: Body::Routes {
                        routes,
                        next: next.map(String::from),
                    },
                };
                let mut text = serde_json::to_string(&answer).unwrap();
                text.push('\n');
                (&stream).write_all(text.as_bytes()).unwrap();
            }
            asked
        });
        let query = RouteQuery {
            family: Some("inet".into()),
            ..RouteQuery::default()
        };
        let body = ask_routes(&path, &query).unwrap();
        let asked = daemon.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let afters: Vec<Option<&str>> = asked.iter().map(|q| q.after.as_deref()).collect();
        assert_eq!(afters, [None, Some("k1"), Some("k2")]);
        assert!(asked
            .iter()
            .all(|q| q.limit == Some(MAX_ROUTE_PAGE) && q.family.as_deref() == Some("inet")));
        let Body::Routes { routes, next } = body else {
            panic!("not routes");
        };
        assert_eq!(next, None);
        let prefixes: Vec<&str> = routes.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(prefixes, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]);
    }
}
