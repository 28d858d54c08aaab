//! Talking to bgpd's control socket: one JSON request line, one JSON
//! answer line.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use ferry_bgpd::control::proto::{Body, Request, Response};

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
