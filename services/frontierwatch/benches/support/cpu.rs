//! CPU time by process, from /proc: what a step of a benchmark cost the
//! server, PostgreSQL and the load generator, and how busy the machine was.

/// CPU seconds (user and system) of the processes `group` puts in one of
/// `N` groups (by pid and command name), with those of their children
/// that have exited, from one walk of /proc (utime, stime, cutime and
/// cstime, fields 14 to 17 of stat(5), in USER_HZ = 100). A PostgreSQL
/// backend that exits (the pool recycles its connections after sqlx's
/// 30-minute lifetime; autovacuum workers come and go) moves into the
/// postmaster's cutime, so the sum over PostgreSQL's processes only
/// grows. Likewise a child this process waited for (pgbench, psql) moves
/// into this process's cutime.
fn cpu_seconds<const N: usize>(group: impl Fn(u32, &str) -> Option<usize>) -> [f64; N] {
    let mut total = [0.0; N];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let Some(slot) = group(pid, comm).and_then(|g| total.get_mut(g)) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        *slot += (tick(11) + tick(12) + tick(13) + tick(14)) / 100.0;
    }
    total
}

/// The machine's (busy, all) CPU seconds so far, summed over its cores,
/// from the first line of /proc/stat; idle and iowait count as not busy.
fn machine_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let all: f64 = ticks.iter().sum();
    let idle = ticks.get(3).unwrap_or(&0.0) + ticks.get(4).unwrap_or(&0.0);
    ((all - idle) / 100.0, all / 100.0)
}

/// CPU seconds used so far by the server (one process), PostgreSQL (every
/// process named `postgres`), this process with its exited children
/// (the load generator, pgbench, psql) and the whole machine.
#[derive(Clone, Copy, Debug)]
pub struct Cpu {
    pub server: f64,
    pub postgres: f64,
    pub client: f64,
    busy: f64,
    all: f64,
}

impl Cpu {
    pub fn now(server_pid: u32) -> Self {
        let me = std::process::id();
        let (busy, all) = machine_seconds();
        let [server, postgres, client] = cpu_seconds(|pid, comm| {
            if pid == server_pid {
                Some(0)
            } else if comm == "postgres" {
                Some(1)
            } else {
                (pid == me).then_some(2)
            }
        });
        Self {
            server,
            postgres,
            client,
            busy,
            all,
        }
    }

    /// What was used between `earlier` and this sample.
    pub fn since(&self, earlier: &Cpu) -> Used {
        let all = self.all - earlier.all;
        Used {
            server: self.server - earlier.server,
            postgres: self.postgres - earlier.postgres,
            client: self.client - earlier.client,
            busy: if all > 0.0 {
                (self.busy - earlier.busy) / all
            } else {
                f64::NAN
            },
        }
    }
}

/// CPU seconds used over an interval, and the machine's busy fraction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Used {
    pub server: f64,
    pub postgres: f64,
    pub client: f64,
    pub busy: f64,
}

impl Used {
    /// The sum of several intervals (the busy fraction is their mean).
    pub fn sum(all: &[Used]) -> Used {
        let n = all.len().max(1) as f64;
        Used {
            server: all.iter().map(|u| u.server).sum(),
            postgres: all.iter().map(|u| u.postgres).sum(),
            client: all.iter().map(|u| u.client).sum(),
            busy: all.iter().map(|u| u.busy).sum::<f64>() / n,
        }
    }

    /// Microseconds of CPU per operation, by process: (server, PostgreSQL,
    /// load generator, total).
    pub fn per_op_us(&self, ops: f64) -> (f64, f64, f64, f64) {
        let us = |s: f64| s * 1e6 / ops;
        (
            us(self.server),
            us(self.postgres),
            us(self.client),
            us(self.server + self.postgres + self.client),
        )
    }
}
