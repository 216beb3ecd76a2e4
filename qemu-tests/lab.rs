//! The QEMU cluster-pair rig: a private network namespace holding the bridges `lan`, `wan` and
//! `hb` with one tap per guest NIC, the two appliance guests fw-a and fw-b (TCG by default,
//! `QEMU_ACCEL=kvm` opts in to KVM), a client namespace on `lan` and a server namespace on `wan`.
//!
//! Each lab makes a fresh random HMAC key and hands it to both guests as the QEMU fw_cfg file
//! `opt/habox/pike.key` (rcS installs it in place of the image's key); `without_a_key` boots
//! guests that have none at all.
//!
//! Each guest has a configuration disk: a blank raw image of `DISK_BYTES` per node and lab under
//! build/qemu-disks/ (virtio-blk; rcS formats it at the first boot), kept across the guest's
//! reboots within the lab and deleted with it.
//!
//! Addresses: lan 198.51.100.0/24 and 2001:db8:100::/64, wan 203.0.113.0/24 and
//! 2001:db8:200::/64, heart-beat 198.18.0.0/24. Nothing is ever
//! configured in the root namespace. Dropping a `Lab` kills every process it started, deletes its
//! namespaces and, when the test is failing, keeps the consoles' logs under build/qemu-logs/.

// Shared by the test target and the `make run` example, each of which uses a part.
#![allow(dead_code)]

use crate::console::Console;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One appliance node and its addresses (the kernel command line configures them).
pub struct Node {
    pub name: &'static str,
    pub id: u32,
    /// Short tag used in tap names.
    pub tag: &'static str,
    pub lan: &'static str,
    /// The node's static IPv6 address on lan (2001:db8:100::/64).
    pub lan6: &'static str,
    pub wan: &'static str,
    /// The node's static IPv6 address on wan (2001:db8:200::/64).
    pub wan6: &'static str,
    pub hb: &'static str,
}

/// The pair, as in rootfs/etc/habox/network.
pub const NODES: [Node; 2] = [
    Node {
        name: "fw-a",
        id: 1,
        tag: "fa",
        lan: "198.51.100.2",
        lan6: "2001:db8:100::2",
        wan: "203.0.113.2",
        wan6: "2001:db8:200::2",
        hb: "198.18.0.1",
    },
    Node {
        name: "fw-b",
        id: 2,
        tag: "fb",
        lan: "198.51.100.3",
        lan6: "2001:db8:100::3",
        wan: "203.0.113.3",
        wan6: "2001:db8:200::3",
        hb: "198.18.0.2",
    },
];
pub const CLIENT: &str = "198.51.100.100";
pub const SERVER: &str = "203.0.113.100";
/// The real servers of the default ldirectord.cf (extra addresses of the server namespace).
pub const REAL_SERVERS: [&str; 2] = ["203.0.113.101", "203.0.113.102"];
pub const LAN_VIP: &str = "198.51.100.1";
/// The LAN's IPv6 VIP (rootfs/etc/habox/pikemon.cfg) and the client's IPv6 address.
pub const LAN_VIP6: &str = "2001:db8:100::1";
pub const CLIENT6: &str = "2001:db8:100::100";
/// The WAN's IPv6 VIP and the server's IPv6 address.
pub const WAN_VIP6: &str = "2001:db8:200::1";
pub const SERVER6: &str = "2001:db8:200::100";
pub const WAN_VIP: &str = "203.0.113.1";
/// The guests' NICs in PCI order: name, bridge.
pub const NICS: [&str; 3] = ["lan", "wan", "hb"];

/// Bound on a guest's boot (TCG on a loaded 2-core machine; a boot takes a few seconds).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Lines every boot of the default image prints (checked after each boot, in every scenario):
/// every sysctl of the appliance holds, the ruleset loaded before forwarding came on.
pub const BOOT_SAYS: [&str; 2] = [
    "rcS: sysctl: every value of /etc/sysctl.conf holds",
    "rcS: firewall: /etc/nftables.conf loaded, forwarding on",
];

/// Whether the boot on `console` printed every line of `BOOT_SAYS`.
fn check_boot(console: &Console) -> Result<(), String> {
    let boot = console.transcript();
    match BOOT_SAYS.iter().find(|line| !boot.contains(*line)) {
        Some(line) => Err(format!("the boot did not say {line:?}:\n{boot}")),
        None => Ok(()),
    }
}

/// The size of a guest's configuration disk (sparse: blank until the guest formats it).
pub const DISK_BYTES: u64 = 8 << 20;

/// One pair at a time: TCG guests are CPU-bound and CI has 2 cores.
static ONE_PAIR: Mutex<()> = Mutex::new(());

/// The top of the source tree (artifacts are found relative to it).
pub fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running guest.
pub struct Guest {
    pub node: &'static Node,
    qemu: Option<Child>,
    pub console: Option<Console>,
    pub boot_time: Duration,
    /// Boots so far (a reboot starts a new QEMU on the same disk).
    pub boots: u32,
    /// What the console of the previous boot printed, up to its end (rcK's lines included).
    pub previous_boot: String,
}

impl Guest {
    /// The console of a running guest (panics when it was closed or the guest killed).
    pub fn sh(&mut self) -> &mut Console {
        match self.console.as_mut() {
            Some(c) => c,
            None => panic!("{}: console not connected", self.node.name),
        }
    }
}

/// The whole rig of one test.
pub struct Lab {
    pub test: String,
    pub lab: String,
    pub client: String,
    pub server: String,
    dir: PathBuf,
    /// The guests' configuration disks (under build/qemu-disks/).
    disks: PathBuf,
    /// The cluster key both guests get over fw_cfg (None: the guests get no key).
    pub key: Option<PathBuf>,
    /// The initramfs the guests boot.
    initrd: PathBuf,
    pub guests: Vec<Guest>,
    helpers: Vec<Child>,
    _one: MutexGuard<'static, ()>,
}

fn run(args: &[&str]) -> Result<Output, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    /// Builds the namespaces, bridges, taps, client and server (not the guests yet).
    pub fn new(test: &str) -> Result<Lab, String> {
        let one = ONE_PAIR.lock().unwrap_or_else(|e| e.into_inner());
        for f in ["vmlinuz", "initramfs.img"] {
            let p = top().join("build/appliance").join(f);
            if !p.exists() {
                return Err(format!("{} missing: run `make image` first", p.display()));
            }
        }
        let id = std::process::id() % 100_000;
        let dir = std::env::temp_dir().join(format!("habox-qemu-{id}-{test}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = dir.join("pike.key");
        write_random_key(&key)?;
        let disks = top().join("build/qemu-disks").join(format!("{id}-{test}"));
        let _ = std::fs::remove_dir_all(&disks);
        std::fs::create_dir_all(&disks).map_err(|e| format!("{}: {e}", disks.display()))?;
        let lab = Lab {
            test: test.to_string(),
            lab: format!("hq{id}lab"),
            client: format!("hq{id}cli"),
            server: format!("hq{id}srv"),
            dir,
            disks,
            key: Some(key),
            initrd: top().join("build/appliance/initramfs.img"),
            guests: Vec::new(),
            helpers: Vec::new(),
            _one: one,
        };
        // Registered for cleanup before anything can fail half-way.
        for ns in [&lab.lab, &lab.client, &lab.server] {
            run(&["ip", "netns", "add", ns])?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        for br in NICS {
            lab.ip(&["link", "add", br, "type", "bridge", "forward_delay", "0"])?;
            lab.ip(&["link", "set", br, "up"])?;
            for node in &NODES {
                let tap = format!("{}-{br}", node.tag);
                lab.ip(&["tuntap", "add", &tap, "mode", "tap"])?;
                lab.ip(&["link", "set", &tap, "master", br, "up"])?;
            }
        }
        for (ns, br, addrs) in [
            (&lab.client, "lan", vec![CLIENT]),
            (
                &lab.server,
                "wan",
                vec![SERVER, REAL_SERVERS[0], REAL_SERVERS[1]],
            ),
        ] {
            let port = format!("{br}-host");
            lab.ip(&[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ])?;
            lab.ip(&["link", "set", &port, "master", br, "up"])?;
            run(&["ip", "-n", ns, "link", "set", "eth0", "up"])?;
            for a in addrs {
                let prefix = format!("{}/24", a);
                run(&["ip", "-n", ns, "addr", "add", &prefix, "dev", "eth0"])?;
            }
        }
        for (ns, addr) in [(&lab.client, CLIENT6), (&lab.server, SERVER6)] {
            let prefix = format!("{addr}/64");
            run(&[
                "ip", "-n", ns, "addr", "add", &prefix, "dev", "eth0", "nodad",
            ])?;
        }
        Ok(lab)
    }

    /// The guests booted after this get no HMAC key: no fw_cfg file, and an initramfs whose
    /// /etc/habox/pike.key is empty (a second cpio archive appended to the image's overwrites it;
    /// the kernel unpacks concatenated archives in order).
    pub fn without_a_key(&mut self) -> Result<(), String> {
        let tree = self.dir.join("keyless");
        std::fs::create_dir_all(tree.join("etc/habox")).map_err(|e| format!("keyless: {e}"))?;
        std::fs::write(tree.join("etc/habox/pike.key"), "").map_err(|e| format!("keyless: {e}"))?;
        let initrd = self.dir.join("keyless.img");
        std::fs::copy(&self.initrd, &initrd).map_err(|e| format!("keyless.img: {e}"))?;
        let script = format!(
            "cd {} && echo etc/habox/pike.key | cpio --quiet -o -H newc -R 0:0 | gzip >> {}",
            tree.display(),
            initrd.display()
        );
        run(&["sh", "-c", &script])?;
        self.key = None;
        self.initrd = initrd;
        Ok(())
    }

    /// The guests booted after this also get the files of directory `tree` (a cpio archive of
    /// it appended to their initramfs: files of the same path replace the image's).
    pub fn with_extra_tree(&mut self, tree: &Path) -> Result<(), String> {
        let initrd = self.dir.join("extra.img");
        if self.initrd != initrd {
            std::fs::copy(&self.initrd, &initrd).map_err(|e| format!("extra.img: {e}"))?;
        }
        let script = format!(
            "cd {} && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip >> {}",
            tree.display(),
            initrd.display()
        );
        run(&["sh", "-c", &script])?;
        self.initrd = initrd;
        Ok(())
    }

    /// Boots a guest again after `kill_guest` and waits for its shell.
    pub fn restart_guest(&mut self, name: &str) -> Result<(), String> {
        let node = self.guest(name).node;
        let qemu = self.start_qemu(node)?;
        let sock = self.dir.join(format!("{name}.console"));
        let log = self.dir.join(format!("{name}.log"));
        let g = self.guest(name);
        g.qemu = Some(qemu);
        let started = Instant::now();
        let mut console = Console::connect(name, &sock, &log, Duration::from_secs(20))?;
        console.login(BOOT_TIMEOUT)?;
        check_boot(&console)?;
        g.console = Some(console);
        g.boot_time = started.elapsed();
        Ok(())
    }

    /// `ip -n LAB ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<Output, String> {
        let mut full = vec!["ip", "-n", &self.lab];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command in the client namespace (whatever its exit status).
    pub fn on_client(&self, args: &[&str]) -> Output {
        netns_output(&self.client, args)
    }

    /// Runs a command in the server namespace (whatever its exit status).
    pub fn on_server(&self, args: &[&str]) -> Output {
        netns_output(&self.server, args)
    }

    /// Starts a long-running helper in a namespace; killed at teardown.
    pub fn spawn(&mut self, ns: &str, args: &[&str], stdin: Stdio) -> Result<&mut Child, String> {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{args:?}: {e}"))?;
        self.helpers.push(child);
        let last = self.helpers.len() - 1;
        Ok(&mut self.helpers[last])
    }

    /// Default routes of client and server through `lan_gw` / `wan_gw`.
    pub fn route_via(&self, lan_gw: &str, wan_gw: &str) -> Result<(), String> {
        run(&[
            "ip",
            "-n",
            &self.client,
            "route",
            "replace",
            "default",
            "via",
            lan_gw,
        ])?;
        run(&[
            "ip",
            "-n",
            &self.server,
            "route",
            "replace",
            "default",
            "via",
            wan_gw,
        ])?;
        Ok(())
    }

    /// IPv6 default routes of client and server through the pair's IPv6 VIPs.
    pub fn route6_via_vips(&self) -> Result<(), String> {
        for (ns, gw) in [(&self.client, LAN_VIP6), (&self.server, WAN_VIP6)] {
            run(&[
                "ip", "-n", ns, "-6", "route", "replace", "default", "via", gw,
            ])?;
        }
        Ok(())
    }

    /// Starts both guests, waits until both consoles give a shell; prints the boot times.
    pub fn boot_pair(&mut self) -> Result<(), String> {
        // Each console is connected right after its QEMU starts: a serial socket without a
        // client drops what the guest prints.
        for node in &NODES {
            let qemu = self.start_qemu(node)?;
            self.guests.push(Guest {
                node,
                qemu: Some(qemu),
                console: None,
                boot_time: Duration::ZERO,
                boots: 1,
                previous_boot: String::new(),
            });
            let sock = self.dir.join(format!("{}.console", node.name));
            let log = self.dir.join(format!("{}.log", node.name));
            let console = Console::connect(node.name, &sock, &log, Duration::from_secs(20))?;
            if let Some(g) = self.guests.last_mut() {
                g.console = Some(console);
            }
        }
        // Both boot at once; each boot time is measured from its QEMU start to its shell prompt.
        let started = Instant::now();
        let results: Vec<Result<Duration, String>> = std::thread::scope(|s| {
            let waits: Vec<_> = self
                .guests
                .iter_mut()
                .map(|g| s.spawn(move || g.sh().login(BOOT_TIMEOUT).map(|_| started.elapsed())))
                .collect();
            waits
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err("login thread panicked".into()))
                })
                .collect()
        });
        for (g, r) in self.guests.iter_mut().zip(results) {
            g.boot_time = r?;
            check_boot(g.sh()).map_err(|e| format!("{}: {e}", g.node.name))?;
        }
        let times: Vec<String> = self
            .guests
            .iter()
            .map(|g| format!("{} {:.1}s", g.node.name, g.boot_time.as_secs_f64()))
            .collect();
        note(&format!("{}: booted ({})", self.test, times.join(", ")));
        Ok(())
    }

    /// The guest's configuration disk, created blank (sparse) on first use.
    pub fn disk(&self, node: &Node) -> Result<PathBuf, String> {
        let path = self.disks.join(format!("{}.img", node.name));
        if !path.exists() {
            std::fs::File::create(&path)
                .and_then(|f| f.set_len(DISK_BYTES))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(path)
    }

    /// Gives the guest a disk that holds something else (its first MiB not zeros, no file
    /// system): rcS must leave it alone. Call before booting.
    pub fn foreign_disk(&self, node: &Node) -> Result<(), String> {
        use std::io::Write;
        let path = self.disk(node)?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&[0xa5; 1 << 20]))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reboots a guest as its administrator would (`reboot` on the console: rcK stops the
    /// daemons and unmounts the disk). QEMU runs with -no-reboot, so it exits; a new QEMU boots
    /// on the same disk (`restart_if_rebooted`, which `make run` uses too). Returns the time
    /// from `reboot` to the new shell prompt.
    pub fn reboot_guest(&mut self, name: &str) -> Result<Duration, String> {
        let started = Instant::now();
        self.guest(name).sh().type_text("reboot\n")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.restart_if_rebooted(name, true)? {
            if Instant::now() >= deadline {
                self.kill_guest(name);
                return Err(format!("{name}: did not shut down within 60 s of `reboot`"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let took = started.elapsed();
        self.guest(name).boot_time = took;
        note(&format!(
            "{}: {name} rebooted in {:.1}s",
            self.test,
            took.as_secs_f64()
        ));
        Ok(took)
    }

    /// Boots the guest again, on the same disk, when its QEMU has exited by a `reboot` (QEMU
    /// runs with -no-reboot and exits 0; a guest killed or crashed stays down). With `console`
    /// the lab connects to the new console and waits for the shell; without, the console is
    /// left to whoever attaches to its socket (`make run`). Returns whether it restarted.
    pub fn restart_if_rebooted(&mut self, name: &str, console: bool) -> Result<bool, String> {
        let g = self.guest(name);
        let node = g.node;
        let Some(qemu) = g.qemu.as_mut() else {
            return Ok(false);
        };
        match qemu.try_wait() {
            Ok(Some(status)) if status.success() => {}
            Ok(Some(status)) => {
                g.qemu = None;
                return Err(format!("{name}: qemu ended ({status}): not restarted"));
            }
            Ok(None) => return Ok(false),
            Err(e) => return Err(format!("{name}: qemu: {e}")),
        }
        g.qemu = None;
        if let Some(c) = g.console.take() {
            g.previous_boot = c.transcript();
            c.close();
        }
        let qemu = self.start_qemu(node)?;
        let boots = self.guest(name).boots + 1;
        let g = self.guest(name);
        g.qemu = Some(qemu);
        g.boots = boots;
        if console {
            let sock = self.dir.join(format!("{name}.console"));
            let log = self.dir.join(format!("{name}.boot{boots}.log"));
            let mut console = Console::connect(name, &sock, &log, Duration::from_secs(20))?;
            console.login(BOOT_TIMEOUT)?;
            check_boot(&console).map_err(|e| format!("{name}: {e}"))?;
            self.guest(name).console = Some(console);
        }
        Ok(true)
    }

    fn start_qemu(&self, node: &Node) -> Result<Child, String> {
        let top = top();
        let disk = self.disk(node)?;
        let accel = std::env::var("QEMU_ACCEL").unwrap_or_else(|_| "tcg".to_string());
        let cpu = if accel == "kvm" { "host" } else { "max" };
        // no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can
        // time out and panic the boot (seen once in a full run beside other load).
        let mut append = format!(
            "console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check habox.node={} habox.name={}",
            node.id, node.name
        );
        for (n, (nic, addr)) in NICS.iter().zip([node.lan, node.wan, node.hb]).enumerate() {
            append.push_str(&format!(" habox.if={nic}0,{},{addr}/24", mac(node, n)));
            // Dual-stack LAN and WAN: the node's static IPv6 address beside the IPv4 one.
            match *nic {
                "lan" => append.push_str(&format!(",{}/64", node.lan6)),
                "wan" => append.push_str(&format!(",{}/64", node.wan6)),
                _ => {}
            }
        }
        let peer = NODES
            .iter()
            .find(|p| p.id != node.id)
            .map(|p| p.hb)
            .unwrap_or_default();
        append.push_str(&format!(" habox.peer={peer}"));
        let console = self.dir.join(format!("{}.console", node.name));
        let mut args: Vec<String> = vec![
            "netns".into(),
            "exec".into(),
            self.lab.clone(),
            "qemu-system-x86_64".into(),
            "-accel".into(),
            accel,
            "-cpu".into(),
            cpu.into(),
            "-m".into(),
            "256".into(),
            "-smp".into(),
            "1".into(),
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-no-reboot".into(),
            "-kernel".into(),
            top.join("build/appliance/vmlinuz").display().to_string(),
            "-initrd".into(),
            self.initrd.display().to_string(),
            "-append".into(),
            append,
            "-serial".into(),
            format!("unix:{},server=on,wait=off", console.display()),
        ];
        // The key as a fw_cfg file, never on the command line (/proc/cmdline is world-readable).
        if let Some(key) = &self.key {
            args.push("-fw_cfg".into());
            args.push(format!("name=opt/habox/pike.key,file={}", key.display()));
        }
        args.push("-drive".into());
        args.push(format!(
            "if=none,id=config,format=raw,file={}",
            disk.display()
        ));
        args.push("-device".into());
        args.push("virtio-blk-pci,drive=config".into());
        for (n, nic) in NICS.iter().enumerate() {
            args.push("-netdev".into());
            args.push(format!(
                "tap,id={nic},ifname={}-{nic},script=no,downscript=no",
                node.tag
            ));
            args.push("-device".into());
            let mut dev = format!("virtio-net-pci,netdev={nic},mac={}", mac(node, n));
            // Extra virtio-net-pci properties, e.g. `ioeventfd=off` (bench/failover-qemu).
            if let Ok(extra) = std::env::var("QEMU_NIC_OPTS") {
                if !extra.is_empty() {
                    dev.push(',');
                    dev.push_str(&extra);
                }
            }
            args.push(dev);
        }
        let err = std::fs::File::create(self.dir.join(format!("{}.qemu", node.name)))
            .map_err(|e| format!("qemu log: {e}"))?;
        Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("qemu-system-x86_64: {e}"))
    }

    /// The guest named `name`.
    pub fn guest(&mut self, name: &str) -> &mut Guest {
        match self.guests.iter_mut().find(|g| g.node.name == name) {
            Some(g) => g,
            None => panic!("no guest {name}"),
        }
    }

    /// Pulls (`up = false`) or plugs a guest's cable: its tap on the bridge goes down or up.
    pub fn cable(&self, node: &Node, nic: &str, up: bool) -> Result<(), String> {
        let tap = format!("{}-{nic}", node.tag);
        self.ip(&["link", "set", &tap, if up { "up" } else { "down" }])
            .map(|_| ())
    }

    /// Hard failure: kills the guest's QEMU process.
    pub fn kill_guest(&mut self, name: &str) {
        let g = self.guest(name);
        g.console = None;
        if let Some(mut q) = g.qemu.take() {
            let _ = q.kill();
            let _ = q.wait();
        }
    }

    /// The console socket of a guest (for attaching a terminal).
    pub fn console_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.console"))
    }

    /// Where the consoles' logs of this run are written.
    pub fn log_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for g in &mut self.guests {
            g.console = None;
            if let Some(mut q) = g.qemu.take() {
                let _ = q.kill();
                let _ = q.wait();
            }
        }
        for h in &mut self.helpers {
            let _ = h.kill();
            let _ = h.wait();
        }
        for ns in [&self.client, &self.server, &self.lab] {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if std::thread::panicking() {
            let keep = top().join("build/qemu-logs").join(&self.test);
            let _ = std::fs::remove_dir_all(&keep);
            if std::fs::create_dir_all(&keep).is_ok() {
                for f in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
                    let p = f.path();
                    if matches!(p.extension().and_then(|e| e.to_str()), Some("log" | "qemu")) {
                        let _ = std::fs::copy(&p, keep.join(f.file_name()));
                    }
                }
                note(&format!(
                    "{}: guest logs kept in {}",
                    self.test,
                    keep.display()
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.disks);
    }
}

/// Tears down the namespaces (and so every QEMU and helper inside) of this process's lab without
/// the `Lab` value: for a signal handler, when the owner cannot unwind.
pub fn emergency_teardown() {
    let id = std::process::id() % 100_000;
    for ns in [
        format!("hq{id}cli"),
        format!("hq{id}srv"),
        format!("hq{id}lab"),
    ] {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    }
    let disks = top().join("build/qemu-disks");
    for d in std::fs::read_dir(&disks).into_iter().flatten().flatten() {
        if d.file_name()
            .to_string_lossy()
            .starts_with(&format!("{id}-"))
        {
            let _ = std::fs::remove_dir_all(d.path());
        }
    }
}

/// Writes 32 random bytes, in hex, as a key file readable by its owner only.
fn write_random_key(path: &Path) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| writeln!(f, "{hex}"))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The MAC of a guest NIC: 52:54:00:NODE:00:NIC.
pub fn mac(node: &Node, nic: usize) -> String {
    format!("52:54:00:{:02x}:00:{:02x}", node.id, nic + 1)
}

fn netns_output(ns: &str, args: &[&str]) -> Output {
    match Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("{args:?} in {ns}: {e}"),
    }
}

/// A progress line on the real stderr (not captured by the test harness).
pub fn note(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Waits until `check` returns true, polling; false on timeout.
pub fn poll(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether the guest behind `sh` has the LAN VIP on an interface that is up (the master's
/// macvlan). busybox `ip addr show up` ignores `up`, so the link flags are read separately: a
/// Backup keeps its non-nomadic VIPs configured on a macvlan that is down.
pub fn holds_vip(sh: &mut Console) -> Result<bool, String> {
    let addrs = sh.run("ip -o -4 addr show", Duration::from_secs(20))?.1;
    let links = sh.run("ip -o link show", Duration::from_secs(20))?.1;
    Ok(addrs
        .lines()
        .filter(|l| l.contains(&format!(" inet {LAN_VIP}/")))
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|dev| link_is_up(&links, dev)))
}

/// Whether this guest has the LAN's IPv6 VIP on an interface that is up (the master's macvlan).
pub fn holds_vip6(sh: &mut Console) -> Result<bool, String> {
    let addrs = sh.run("ip -o -6 addr show", Duration::from_secs(20))?.1;
    let links = sh.run("ip -o link show", Duration::from_secs(20))?.1;
    Ok(addrs
        .lines()
        .filter(|l| l.contains(&format!(" inet6 {LAN_VIP6}/")))
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|dev| link_is_up(&links, dev)))
}

/// Whether `ip -o link show` output lists `dev` (possibly as `dev@parent`) with the UP flag.
fn link_is_up(links: &str, dev: &str) -> bool {
    links.lines().any(|l| {
        let mut f = l.split_whitespace();
        let name = f.nth(1).unwrap_or("").trim_end_matches(':');
        let flags = f.next().unwrap_or("");
        name.split('@').next() == Some(dev)
            && flags
                .trim_matches(|c| c == '<' || c == '>')
                .split(',')
                .any(|x| x == "UP")
    })
}
