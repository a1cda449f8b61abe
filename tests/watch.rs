//! `livescore watch` against the real binary: `--once` on a fixed board
//! (exact finals) and on the running demo, one-line failures, the follow
//! mode's board, reconnect notice and clean exit on SIGTERM, and the
//! other sports: `--league` against a hockey server and a football one,
//! and a board of several leagues.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Server, TempDir};

/// Guards against a hang only; every run here finishes in well under it.
const WAIT: Duration = Duration::from_secs(30);

const FINAL_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ss-2015-w1-final.xml"
);

/// A server polling the final-scores fixture, in a directory of its own
/// (its own SQLite file). Keep the TempDir alive as long as the server:
/// declared first, it is dropped (removed) after the server is killed.
fn fixed_board_server(dir: &TempDir) -> Server {
    Server::start_in(
        &["serve", "--feed", FINAL_FIXTURE, "--poll-interval", "1s"],
        dir.path(),
    )
}

fn watch(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_livescore"));
    cmd.arg("watch")
        .args(args)
        .env_remove("LIVESCORE_URL")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `livescore watch ARGS` to the end, failing the test if it hangs.
fn run_watch(args: &[&str]) -> Output {
    let child = watch(args).spawn().expect("spawn livescore watch");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WAIT) {
        Ok(out) => out.expect("wait for livescore watch"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("livescore watch {args:?} did not finish within {WAIT:?}");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

/// `GET /api/` as JSON.
async fn week(server: &Server) -> serde_json::Value {
    common::get_json(format!("{}/api/", server.url)).await
}

#[tokio::test]
async fn once_prints_the_exact_finals_of_a_fixed_board() {
    let dir = TempDir::new("watch-once");
    let server = fixed_board_server(&dir);
    let out = tokio::task::spawn_blocking({
        let url = server.url.clone();
        move || run_watch(&["--once", &url])
    })
    .await
    .expect("join");
    assert!(out.status.success(), "exit 0: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 16, "one line per game:\n{stdout}");
    assert_eq!(lines[0], "PIT 21 @ NE 28  Final");
    assert!(lines.contains(&"SEA 31 @ STL 34  Final OT"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no colour when piped");

    // Every game, in feed order, exactly as the API has it.
    let week = week(&server).await;
    let expected: Vec<String> = week["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| {
            let status = match g["state"].as_str().expect("state") {
                "final" => "Final",
                "final_overtime" => "Final OT",
                other => panic!("the final fixture has a {other} game"),
            };
            format!(
                "{} {} @ {} {}  {status}",
                g["away"]["abbr"].as_str().expect("abbr"),
                g["away"]["score"],
                g["home"]["abbr"].as_str().expect("abbr"),
                g["home"]["score"]
            )
        })
        .collect();
    assert_eq!(lines, expected);
}

/// The ESPN midday sample with the states only ESPN has and a red zone.
fn espn_unusual_day() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/espn-2015-w1-midday.json"
    );
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
    let events = doc["events"].as_array_mut().expect("events");
    for e in events.iter_mut() {
        let status = |name: &str, state: &str, period: u8, clock: &str| {
            serde_json::json!({"clock": 0, "displayClock": clock, "period": period,
                "type": {"id": "0", "name": name, "state": state, "completed": false}})
        };
        let new = match e["id"].as_str().expect("id") {
            "405091307" => status("STATUS_POSTPONED", "post", 0, "0:00"),
            "405091308" => status("STATUS_CANCELED", "post", 0, "0:00"),
            "405091309" => status("STATUS_DELAYED", "pre", 0, "0:00"),
            "405091305" => status("STATUS_RAIN_DELAY", "in", 4, "7:32"),
            "405091303" => {
                e["competitions"][0]["situation"]["isRedZone"] = true.into();
                continue;
            }
            _ => continue,
        };
        e["status"] = new;
    }
    doc.to_string()
}

#[tokio::test]
async fn once_shows_espn_games_in_every_state() {
    let dir = TempDir::new("watch-espn");
    let feed = dir.path().join("scoreboard.json");
    std::fs::write(&feed, espn_unusual_day()).expect("write");
    let feed = feed.to_str().expect("utf8").to_string();
    let server = Server::start_in(
        &["serve", "--feed", &feed, "--poll-interval", "1s"],
        dir.path(),
    );
    let out = tokio::task::spawn_blocking({
        let url = server.url.clone();
        move || run_watch(&["--once", &url])
    })
    .await
    .expect("join");
    assert!(out.status.success(), "exit 0: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..10],
        [
            "PIT 21 @ NE 28  Final",
            "GB 0 @ CHI 3  Q1 04:53  GB ball",
            "SEA 6 @ STL 10  Q2 06:16  SEA ball",
            "CAR 10 @ JAX 9  Halftime",
            "MIA 7 @ WSH 10  Q3 06:47  WSH ball  RZ",
            "IND 0 @ BUF 7  Q1 00:00",
            "CLE 10 @ NYJ 31  Delayed Q4 07:32",
            "KC 27 @ HOU 20  Q4 01:28  HOU ball",
            "NO 0 @ ARI 0  Postponed",
            "DET 0 @ SD 0  Canceled",
        ],
        "{stdout}"
    );
    assert_eq!(lines[10], "BAL 0 @ DEN 0  Delayed");
    assert_eq!(lines.len(), 16);
}

/// A fixture of every sport's (`tests/fixtures/espn-sports/`).
fn sports_fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/espn-sports/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test]
async fn once_with_league_shows_a_hockey_board_in_hockey_words() {
    let dir = TempDir::new("watch-nhl");
    let feed = sports_fixture("handmade-nhl-shootout-intermission.json");
    let server = Server::start_in(
        &["serve", "--feed", &feed, "--poll-interval", "1s"],
        dir.path(),
    );
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        [
            run_watch(&["--once", "--league", "nhl", &url]),
            run_watch(&["--once", "--league", "NHL", "--linescore", &url]),
        ]
    })
    .await
    .expect("join");
    let [plain, scores] = out;
    assert!(plain.status.success(), "exit 0: {}", text(&plain.stderr));
    assert_eq!(
        text(&plain.stdout),
        "NYR 2 @ FLA 3  Final/SO (1-2)\n\
         NYR 1 @ FLA 1  End 2nd\n\
         NYR 3 @ FLA 2  Final/OT\n"
    );
    assert!(plain.stderr.is_empty(), "{}", text(&plain.stderr));

    assert!(scores.status.success(), "exit 0: {}", text(&scores.stderr));
    let stdout = text(&scores.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "NYR 2 @ FLA 3  Final/SO (1-2)",
            "      1 2 3 OT SO T",
            "  NYR 0 2 0  0  1 2",
            "  FLA 1 1 0  0  2 3",
        ],
        "{stdout}"
    );
    assert_eq!(lines[4], "NYR 1 @ FLA 1  End 2nd", "{stdout}");
    // Every game line still has its five fields; line-score rows are
    // indented.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.split_whitespace().nth(2) == Some("@"))
            .count(),
        3,
        "{stdout}"
    );
}

#[tokio::test]
async fn once_with_a_league_the_board_lacks_says_so_and_prints_nothing() {
    let dir = TempDir::new("watch-no-nba");
    let server = fixed_board_server(&dir);
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || run_watch(&["--once", "--league", "nba", &url]))
        .await
        .expect("join");
    // The board was read: not a failure; NBA games may come later.
    assert!(out.status.success(), "exit 0: {}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        "livescore watch: --league nba: no such league on the board (it has nfl)\n"
    );
}

/// A board of three leagues as one `scores` update: two NBA finals, the
/// NHL game live in overtime, a Premier League final.
fn three_league_update() -> String {
    let games = |name: &str, keep: usize| {
        let doc = std::fs::read(sports_fixture(name)).expect("fixture");
        let board = livescore::feed::espn::parse(&doc).expect("a good document");
        let mut games = serde_json::to_value(board.games).expect("json");
        games.as_array_mut().expect("games").truncate(keep);
        games.as_array().expect("games").clone()
    };
    let board: Vec<serde_json::Value> = [
        games("nba-2024-12-15-final.json", 2),
        games("nhl-2025-06-04-live-overtime.json", 1),
        games("eng1-2025-05-25-full-time.json", 1),
    ]
    .concat();
    format!(
        "id: a-1\nevent: update\ndata: {}\n\n",
        serde_json::Value::Array(board)
    )
}

#[test]
fn once_groups_several_leagues_under_headers_and_league_narrows_them() {
    let (url, _heads) = scripted_sse_server(vec![three_league_update(); 3]);
    let all = run_watch(&["--once", &url]);
    assert!(all.status.success(), "exit 0: {}", text(&all.stderr));
    assert_eq!(
        text(&all.stdout),
        "NBA 2024-12-15\n\
         NO 104 @ IND 119  Final\n\
         DAL 143 @ GS 133  Final\n\
         \n\
         NHL 2025-06-04 · 1 live\n\
         FLA 3 @ EDM 3  OT 17:09\n\
         \n\
         Premier League 2025-05-25\n\
         LEI 0 @ BOU 2  Final\n\
         \n"
    );
    // One league chosen: exactly that league's lines, as a one-league
    // board prints them; several, in the board's order under headers.
    let nhl = run_watch(&["--once", "--league", "nhl", &url]);
    assert_eq!(text(&nhl.stdout), "FLA 3 @ EDM 3  OT 17:09\n");
    let two = run_watch(&["--once", "--league", "eng.1,nba", "--league", "wnba", &url]);
    assert!(two.status.success(), "exit 0: {}", text(&two.stderr));
    assert_eq!(
        text(&two.stdout),
        "NBA 2024-12-15\n\
         NO 104 @ IND 119  Final\n\
         DAL 143 @ GS 133  Final\n\
         \n\
         Premier League 2025-05-25\n\
         LEI 0 @ BOU 2  Final\n\
         \n"
    );
    assert_eq!(
        text(&two.stderr),
        "livescore watch: --league wnba: no such league on the board (it has nba, nhl, eng.1)\n"
    );
}

#[tokio::test]
async fn once_lists_every_game_of_the_running_demo() {
    let server = Server::start(&["demo", "--speed", "600"]);
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || run_watch(&["--once", &url]))
        .await
        .expect("join");
    let after = week(&server).await;
    assert!(out.status.success(), "exit 0: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let games = after["games"].as_array().expect("games");
    assert_eq!(games.len(), 16);
    assert_eq!(lines.len(), 16, "one line per game:\n{stdout}");
    // The replay moves on between the two calls, and scores only go up:
    // same games in the same order, scores parse and are no higher than
    // the API's a moment later.
    for (line, g) in lines.iter().zip(games) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() >= 6, "{line:?}");
        assert_eq!(f[0], g["away"]["abbr"].as_str().expect("abbr"), "{line:?}");
        assert_eq!(f[2], "@", "{line:?}");
        assert_eq!(f[3], g["home"]["abbr"].as_str().expect("abbr"), "{line:?}");
        let away: u64 = f[1].parse().expect("away score is a number");
        let home: u64 = f[4].parse().expect("home score is a number");
        assert!(
            away <= g["away"]["score"].as_u64().expect("score"),
            "{line:?}"
        );
        assert!(
            home <= g["home"]["score"].as_u64().expect("score"),
            "{line:?}"
        );
        let status = f[5..].join(" ");
        assert!(
            ["Final", "Halftime", "kickoff", "Q1", "Q2", "Q3", "Q4", "OT"]
                .iter()
                .any(|s| status.starts_with(s)),
            "a known status: {line:?}"
        );
    }
}

#[test]
fn once_fails_in_one_line_when_the_server_is_unreachable() {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = run_watch(&["--once", &format!("http://127.0.0.1:{port}")]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.starts_with("livescore watch: cannot reach http://127.0.0.1:"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn once_gives_up_after_the_timeout_when_no_board_comes() {
    // Accepts connections (the kernel does) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let out = run_watch(&["--once", "--timeout", "500ms", &url]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.contains("no scoreboard from") && err.ends_with("within 0.5s\n"),
        "{err}"
    );
}

/// Reads the child's stdout lines until one matches, failing after WAIT.
fn wait_for_line(lines: &mpsc::Receiver<String>, what: impl Fn(&str) -> bool) -> String {
    loop {
        match lines.recv_timeout(WAIT) {
            Ok(line) if what(&line) => return line,
            Ok(_) => continue,
            Err(err) => panic!("no such line from livescore watch: {err}"),
        }
    }
}

/// Kills the process by id when a test fails before it exits by itself.
struct KillOnDrop(u32, bool);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !self.1 {
            let _ = Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .status();
        }
    }
}

/// `livescore watch URL` following, its stdout's lines sent to the
/// receiver as they come, killed if the test fails before it exits.
fn follow(url: &str) -> (Child, KillOnDrop, mpsc::Receiver<String>) {
    follow_with(&[url])
}

/// As [`follow`], with more arguments.
fn follow_with(args: &[&str]) -> (Child, KillOnDrop, mpsc::Receiver<String>) {
    // Following prints its status to stdout when piped; its stderr is not
    // read here, so it must not be a pipe that could fill and block it.
    let mut child = watch(args)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn livescore watch");
    let guard = KillOnDrop(child.id(), false);
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, guard, lines)
}

/// Sends SIGTERM and waits for the exit, failing the test if it hangs.
fn terminate(mut child: Child) -> std::process::ExitStatus {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    done.recv_timeout(WAIT)
        .expect("watch exits on SIGTERM")
        .expect("wait")
}

#[test]
fn follow_shows_the_board_then_reconnects_and_quits_on_sigterm() {
    let dir = TempDir::new("watch-follow");
    let server = fixed_board_server(&dir);
    let (child, mut guard, lines) = follow(&server.url);
    wait_for_line(&lines, |l| l == "NFL 2015 week 1 (REG)");
    // Piped: no escapes, the columns padded to the widest.
    wait_for_line(&lines, |l| l == "PIT 21 @ NE  28  Final");
    wait_for_line(&lines, |l| l == "SEA 31 @ STL 34  Final OT");

    drop(server); // kills it
    let notice = wait_for_line(&lines, |l| l.contains("reconnecting"));
    assert!(
        notice.contains("last event "),
        "resumes from an id: {notice}"
    );

    let status = terminate(child);
    guard.1 = true;
    assert!(status.success(), "clean exit: {status:?}");
}

#[test]
fn follow_with_a_league_the_board_lacks_says_so_and_waits() {
    let dir = TempDir::new("watch-follow-nba");
    let server = fixed_board_server(&dir);
    let (child, mut guard, lines) = follow_with(&["--league", "nba", &server.url]);
    wait_for_line(&lines, |l| {
        l == "--league nba: no such league on the board (it has nfl); waiting for its games"
    });
    // Not an exit: its games may come later. It quits when asked.
    let status = terminate(child);
    guard.1 = true;
    assert!(status.success(), "clean exit: {status:?}");
}

/// One game as the SPEC shapes it, with the given home score.
fn final_game(home_score: u16) -> serde_json::Value {
    serde_json::json!({
        "eid": "2015091000", "season": 2015, "week": 1, "season_type": "REG",
        "kickoff": "2015-09-11T00:30:00Z", "day": "Thu", "time": "8:30",
        "state": "final", "quarter": "F", "clock": null, "possession": null,
        "red_zone": false,
        "home": {"abbr": "NE", "nickname": "patriots", "score": home_score},
        "away": {"abbr": "PIT", "nickname": "steelers", "score": 21}
    })
}

/// A scripted SSE server: answers the n-th connection with `bodies[n]`
/// and closes it, and reports each request's head on `heads`.
fn scripted_sse_server(bodies: Vec<String>) -> (String, mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, heads) = mpsc::channel();
    std::thread::spawn(move || {
        for body in bodies {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).to_lowercase());
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}"
            );
        }
        // Then hold further connections open without answering.
        let _held: Vec<_> = listener.incoming().collect();
    });
    (url, heads)
}

#[test]
fn follow_resumes_with_the_last_event_id_and_takes_a_reset() {
    let update = |id: &str, home: u16| {
        format!(
            "id: {id}\nevent: update\ndata: {}\n\n",
            serde_json::Value::Array(vec![final_game(home)])
        )
    };
    let (url, heads) = scripted_sse_server(vec![
        // A short retry so the test does not wait; the board; then EOF.
        format!("retry: 50\n\n{}", update("e-1", 28)),
        // The server lost that history: reset, then the current board.
        format!(
            "id: f-1\nevent: reset\ndata: {{\"reason\":\"epoch\",\"last_id\":\"e-1\"}}\n\n{}",
            update("f-2", 35)
        ),
    ]);
    let (child, mut guard, lines) = follow(&url);
    wait_for_line(&lines, |l| l == "PIT 21 @ NE 28  Final");
    let first = heads.recv_timeout(WAIT).expect("first request");
    assert!(
        first.starts_with("get /api/stream?topic=scores&delta=true "),
        "{first}"
    );
    assert!(first.contains("accept: text/event-stream"), "{first}");
    assert!(!first.contains("last-event-id"), "{first}");

    wait_for_line(&lines, |l| l == "PIT 21 @ NE 35  Final");
    let second = heads.recv_timeout(WAIT).expect("second request");
    assert!(
        second.contains("last-event-id: e-1\r\n"),
        "resumes: {second}"
    );

    let status = terminate(child);
    guard.1 = true;
    assert!(status.success(), "clean exit: {status:?}");
}

// Multi-threaded: the lines are waited for by blocking, and the server's
// log is drained by a task of this runtime meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_rebuilds_the_demo_week_from_patches_to_the_official_finals() {
    let server = Server::start(&["demo", "--speed", "2000"]);
    // eid -> "AWAY @ HOME" as the board prints it, to key the finals by.
    let week = week(&server).await;
    let pairs: std::collections::BTreeMap<String, String> = week["games"]
        .as_array()
        .expect("games")
        .iter()
        .map(|g| {
            let t = |side: &str| g[side]["abbr"].as_str().expect("abbr").to_string();
            (
                format!("{} @ {}", t("away"), t("home")),
                g["eid"].as_str().expect("eid").to_string(),
            )
        })
        .collect();
    // The demo publishes its first board before it says it is listening:
    // an empty week here made every final line below unmatchable.
    assert_eq!(pairs.len(), 16, "the demo's week right after start: {week}");
    let official = common::official_finals();
    let (child, mut guard, lines) = follow(&server.url);
    // The latest final line of each game; done when all 16 are official.
    let mut finals = std::collections::BTreeMap::new();
    // What watch printed, for the failure message.
    let mut seen: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while finals.len() < 16 || finals.iter().any(|(eid, s)| official.get(eid) != Some(s)) {
        assert!(
            std::time::Instant::now() < deadline,
            "not all official finals: {finals:?}"
        );
        let line = lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            let tail = &seen[seen.len().saturating_sub(40)..];
            panic!(
                "no more lines; finals so far {finals:?}\nwatch's last lines:\n{}\nserver log:\n{}",
                tail.join("\n"),
                server.logs()
            )
        });
        seen.push(line.clone());
        if !line.contains(" Final") {
            continue;
        }
        // "PIT 21 @ NE  28  Final", padded to the widest team.
        let w: Vec<&str> = line.split_whitespace().collect();
        let (Some(away), Some(a), Some(home), Some(h)) = (w.first(), w.get(1), w.get(3), w.get(4))
        else {
            continue;
        };
        let Some(eid) = pairs.get(&format!("{away} @ {home}")) else {
            continue;
        };
        let score = (
            h.parse().expect("home score"),
            a.parse().expect("away score"),
        );
        finals.insert(eid.clone(), score);
    }
    let status = terminate(child);
    guard.1 = true;
    assert!(status.success(), "clean exit: {status:?}");
}
