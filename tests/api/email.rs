//! Guest emails through the outbox, against a real SMTP listener started by the test: who gets
//! what, the guest link that works, exactly-once per cause, and delivery after the mail server
//! (and the node) come back.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    net::TcpListener,
};

use crate::{
    both,
    helpers::{TestApp, TestDb, spawn_app_with},
    reservations::{book, today},
};

/// One email as the SMTP listener received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server (RFC 5321 without extensions): enough for lettre to deliver to.
pub struct SmtpServer {
    port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    pub async fn start(port: u16, inbox: Arc<Mutex<Vec<Received>>>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind smtp");
        let port = listener.local_addr().unwrap().port();
        let sink = Arc::clone(&inbox);
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                // Sessions die with the server (aborting the accept loop drops the set).
                sessions.spawn(session(stream, Arc::clone(&sink)));
            }
        });
        Self { port, inbox, task }
    }

    /// Stops listening and drops every open session, like a mail server that died.
    fn kill(self) -> (u16, Arc<Mutex<Vec<Received>>>) {
        self.task.abort();
        (self.port, self.inbox)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

async fn session(stream: tokio::net::TcpStream, inbox: Arc<Mutex<Vec<Received>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let reply = async |w: &mut tokio::net::tcp::OwnedWriteHalf, s: &str| {
        w.write_all(s.as_bytes()).await.is_ok()
    };
    if !reply(&mut write, "220 test.smtp ESMTP\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let upper = line.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250-test.smtp\r\n250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_owned();
            to.clear();
            "250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
            "250 OK\r\n"
        } else if upper.starts_with("DATA") {
            if !reply(&mut write, "354 go ahead\r\n").await {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            inbox.lock().unwrap().push(Received {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            "250 OK queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = reply(&mut write, "221 bye\r\n").await;
            return;
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            "250 OK\r\n"
        } else {
            "502 not implemented\r\n"
        };
        if !reply(&mut write, answer).await {
            return;
        }
    }
}

/// Waits until `inbox` holds `n` emails (or panics after 20 s).
pub async fn wait_for(inbox: &Arc<Mutex<Vec<Received>>>, n: usize) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = inbox.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} emails, got {}: {got:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn app_with_smtp(db: &Arc<TestDb>, url: String) -> TestApp {
    spawn_app_with(Arc::clone(db), move |c| {
        c.email.transport = bellhop::config::MailTransport::Smtp(secrecy::SecretString::from(url));
        c.email.public_url = "https://hotel.example".into();
    })
    .await
}

pub async fn guest_with_email(app: &TestApp, pid: &str, email: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/guests"),
            &json!({"name": "Ada Lovelace", "email": email}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The decoded text of an email (lettre may quote-print long lines).
pub fn text(data: &str) -> String {
    data.replace("=\r\n", "").replace("=3D", "=")
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

both!(
    confirmation_change_and_cancellation_reach_the_guest_once_each_with_a_working_link,
    |b| async move {
        let db = Arc::new(TestDb::new(b).await);
        let smtp = SmtpServer::start(0, Arc::default()).await;
        let app = app_with_smtp(&db, smtp.url()).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest_with_email(&app, &pid, "ada@example.org").await;
        let day = today(&app, &pid).await;
        let on = |d: u64| (day + chrono::Days::new(d)).to_string();
        let r = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING",
            "arrival": on(3), "departure": on(5), "adults": 2}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let rid = r.body["id"].as_str().unwrap().to_owned();

        let mail = wait_for(&smtp.inbox, 1).await;
        assert_eq!(mail[0].to, ["ada@example.org"]);
        assert!(
            mail[0].from.contains("bellhop@localhost"),
            "{}",
            mail[0].from
        );
        let body = text(&mail[0].data);
        assert!(
            header(&body, "Subject").unwrap().contains("is confirmed"),
            "{body}"
        );
        assert_eq!(
            header(&body, "Message-ID"),
            Some(format!("<reservation.{rid}.1@bellhop>").as_str())
        );
        assert!(body.contains("Dear Ada Lovelace"), "{body}");
        assert!(
            body.contains(&format!("{} to {} (2 nights), KING room", on(3), on(5))),
            "{body}"
        );
        // The guest's link carries a token for this reservation, and only this one.
        let prefix = format!("https://hotel.example/guest/{rid}?token=");
        let at = body
            .find(&prefix)
            .unwrap_or_else(|| panic!("no guest link in {body}"));
        let token: String = body[at + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        let own = app
            .get_as(Some(&token), &format!("/api/v1/reservations/{rid}"))
            .await;
        assert_eq!(own.status, 200, "{}", own.body);
        assert_eq!(own.body["id"], rid.as_str());
        let board = app
            .get_as(Some(&token), &format!("/api/v1/properties/{pid}/rooms"))
            .await;
        assert_eq!(board.status, 403, "a guest sees their stay, not the hotel");
        let other = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING",
            "arrival": on(10), "departure": on(11), "tentative": true}),
        )
        .await;
        let theirs = app
            .get_as(
                Some(&token),
                &format!(
                    "/api/v1/reservations/{}",
                    other.body["id"].as_str().unwrap()
                ),
            )
            .await;
        assert_eq!(theirs.status, 403);
        // Live, the guest follows their own reservation and nothing of the hotel's.
        let mut ws = crate::helpers::WsClient::connect(app.port, &token).await;
        let own = ws.subscribe(&format!("reservation:{rid}")).await;
        assert_eq!(own["snapshot"]["reservation"]["id"], rid.as_str());
        for topic in [format!("reservations:{pid}"), format!("rooms:{pid}")] {
            ws.send(json!({"op": "subscribe", "topic": topic, "id": 1}))
                .await;
            let f = ws.next_json().await;
            assert_eq!(
                (f["type"].as_str(), f["code"].as_str()),
                (Some("error"), Some("forbidden")),
                "{topic}: {f}"
            );
        }

        // A change and a cancellation: one email each, in order.
        let r = app
            .post(
                &format!("/api/v1/reservations/{rid}/amend"),
                &json!({"departure": on(6)}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .post(
                &format!("/api/v1/reservations/{rid}/cancel"),
                &json!({"reason": "plans changed"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mail = wait_for(&smtp.inbox, 3).await;
        let subjects: Vec<String> = mail
            .iter()
            .map(|m| header(&text(&m.data), "Subject").unwrap().to_owned())
            .collect();
        assert!(subjects[1].contains("was changed"), "{subjects:?}");
        assert!(text(&mail[1].data).contains(&format!("{} to {} (3 nights)", on(3), on(6))));
        assert!(subjects[2].contains("is canceled"), "{subjects:?}");
        assert!(
            !text(&mail[2].data).contains("token="),
            "no link to a canceled stay"
        );
        // The guest saw both changes live.
        for kind in ["amended", "canceled"] {
            loop {
                let f = ws.next_json().await;
                if f["type"] == "event" && f["event"]["kind"] == kind {
                    assert_eq!(f["topic"], format!("reservation:{rid}"));
                    break;
                }
            }
        }
        // The tentative booking sent nothing, and nothing is sent twice.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(smtp.received().len(), 3, "{:?}", smtp.received());
        app.stop().await;
    }
);

both!(
    an_email_waits_for_a_dead_mail_server_and_a_restarted_node_then_arrives_once,
    |b| async move {
        let db = Arc::new(TestDb::new(b).await);
        let smtp = SmtpServer::start(0, Arc::default()).await;
        let url = smtp.url();
        let app = app_with_smtp(&db, url.clone()).await;
        let pid = app.hotel(&["101"]).await;
        let gid = guest_with_email(&app, &pid, "grace@example.org").await;
        let day = today(&app, &pid).await;
        // The mail server dies before the booking.
        let (port, inbox) = smtp.kill();
        let r = book(
            &app,
            &pid,
            json!({"guest_id": gid, "room_type": "KING",
            "arrival": (day + chrono::Days::new(1)).to_string(),
            "departure": (day + chrono::Days::new(2)).to_string()}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        // A few attempts fail meanwhile; the node goes down with the email still queued.
        tokio::time::sleep(Duration::from_millis(700)).await;
        app.stop().await;
        assert!(inbox.lock().unwrap().is_empty());

        // A new node on the same store, and the mail server back on its port.
        let app = app_with_smtp(&db, url).await;
        let smtp = SmtpServer::start(port, inbox).await;
        let mail = wait_for(&smtp.inbox, 1).await;
        assert_eq!(mail[0].to, ["grace@example.org"]);
        assert!(text(&mail[0].data).contains("is confirmed"));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(smtp.received().len(), 1, "sent exactly once");
        app.stop().await;
    }
);

both!(without_smtp_emails_are_written_as_files, |b| async move {
    let db = Arc::new(TestDb::new(b).await);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let app = spawn_app_with(Arc::clone(&db), move |c| {
        c.email.transport = bellhop::config::MailTransport::Files(path);
    })
    .await;
    let pid = app.hotel(&["101"]).await;
    let gid = guest_with_email(&app, &pid, "lin@example.org").await;
    let day = today(&app, &pid).await;
    let r = book(
        &app,
        &pid,
        json!({"guest_id": gid, "room_type": "KING",
            "arrival": day.to_string(), "departure": (day + chrono::Days::new(1)).to_string()}),
    )
    .await;
    assert_eq!(r.status, 201);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let eml = loop {
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        if let Some(f) = files.first() {
            break std::fs::read_to_string(f.path()).unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "no .eml written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let eml = text(&eml);
    assert!(eml.contains("To: lin@example.org"), "{eml}");
    assert!(eml.contains("is confirmed"), "{eml}");
    app.stop().await;
});

both!(
    a_waitlisted_guest_hears_when_a_cancellation_frees_a_room,
    |b| async move {
        let db = Arc::new(TestDb::new(b).await);
        let smtp = SmtpServer::start(0, Arc::default()).await;
        let app = app_with_smtp(&db, smtp.url()).await;
        let pid = app.hotel(&["101"]).await;
        let first = guest_with_email(&app, &pid, "first@example.org").await;
        let waiting = guest_with_email(&app, &pid, "waiting@example.org").await;
        let day = today(&app, &pid).await;
        let stay = |gid: &str, waitlist: bool| {
            json!({"guest_id": gid, "room_type": "KING", "waitlist": waitlist,
                "arrival": (day + chrono::Days::new(7)).to_string(),
                "departure": (day + chrono::Days::new(9)).to_string()})
        };
        let a = book(&app, &pid, stay(&first, false)).await;
        let w = book(&app, &pid, stay(&waiting, true)).await;
        assert_eq!((a.status, w.status), (201, 201));
        assert_eq!(w.body["status"], "waitlisted");
        wait_for(&smtp.inbox, 1).await;
        let r = app
            .post(
                &format!(
                    "/api/v1/reservations/{}/cancel",
                    a.body["id"].as_str().unwrap()
                ),
                &json!({"reason": "flight canceled"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mail = wait_for(&smtp.inbox, 3).await;
        let to_waiting: Vec<_> = mail
            .iter()
            .filter(|m| m.to == ["waiting@example.org"])
            .collect();
        assert_eq!(to_waiting.len(), 1, "{mail:?}");
        let body = text(&to_waiting[0].data);
        assert!(body.contains("a room is free for you"), "{body}");
        assert!(body.contains("now confirmed"), "{body}");
        app.stop().await;
    }
);
