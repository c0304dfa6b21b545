//! A host name as an Ansible inventory writes it: `name:port`, and ranges that stand for many
//! hosts (`web[01:20].example.com`, `db-[a:f].example.com`, `[01:20:2]` with a stride). Read as
//! ansible-core reads it in both its INI and YAML inventories: `parse_address`
//! (lib/ansible/parsing/utils/addresses.py) splits off the port when what is left is an IPv4
//! or IPv6 address or a host name (ranges allowed), else the whole pattern is the name; then
//! `expand_hostname_range` (lib/ansible/plugins/inventory/__init__.py) expands each `[...]`.

/// One pattern stands for at most this many hosts: Ansible has no bound, but `h[0:99999999]`
/// would build a hundred million hosts before anything could say no.
pub const MAX_HOSTS: usize = 4096;

/// What a host pattern stands for.
#[derive(Debug, PartialEq, Eq)]
pub struct Expanded {
    pub hosts: Vec<String>,
    /// The `:port` after the name, as written (Ansible's `int(port)`; the caller checks it).
    pub port: Option<u64>,
}

/// The hosts and port `pattern` stands for, or why it stands for none (Ansible's own words
/// where it has them).
pub fn expand(pattern: &str) -> Result<Expanded, String> {
    let (name, port) = match parse_address(pattern) {
        Some((host, port)) => (host, port),
        // Not an address: the whole pattern is the name (Ansible's `_expand_hostpattern`).
        None => (pattern.to_owned(), None),
    };
    let hosts = if name.contains('[') {
        let mut hosts = Vec::new();
        expand_range(&name, &mut hosts)?;
        hosts
    } else {
        vec![name]
    };
    Ok(Expanded { hosts, port })
}

/// `parse_address(address, allow_ranges=True)`: the host and port, or `None` when what is left
/// after the port is neither an IPv4 nor an IPv6 address nor a host name.
fn parse_address(address: &str) -> Option<(String, Option<u64>)> {
    let mut address = address.to_owned();
    let mut port = None;
    // As addresses.py does: `[host]:port`, then `host:port` on what is left.
    if let Some((host, p)) = bracketed_hostport(&address) {
        address = host;
        port = Some(p);
    }
    if let Some((host, p)) = hostport(&address) {
        address = host;
        port = Some(p);
    }
    let port = port.map(|p: String| p.parse::<u64>().unwrap_or(u64::MAX));
    (is_ipv4(&address) || is_ipv6(&address) || is_hostname(&address)).then_some((address, port))
}

/// `^\[(.+)\]:([0-9]+)$`, owned parts.
fn bracketed_hostport(s: &str) -> Option<(String, String)> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_digit());
    let port = &s[digits.len()..];
    let inner = digits.strip_suffix("]:")?.strip_prefix('[')?;
    (!port.is_empty() && !inner.is_empty()).then(|| (inner.to_owned(), port.to_owned()))
}

/// `^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`: characters other than `:[]` or whole `[...]`
/// groups, then `:port`.
fn hostport(s: &str) -> Option<(String, String)> {
    let (host, port) = s.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut rest = host;
    while let Some(c) = rest.chars().next() {
        rest = match c {
            '[' => &rest[rest.find(']')? + 1..],
            ':' | ']' => return None,
            c => &rest[c.len_utf8()..],
        };
    }
    Some((host.to_owned(), port.to_owned()))
}

/// `[0-9]+:[0-9]+` with an optional `:[0-9]+` step, the inside of a numeric range.
fn numeric_range(inside: &str) -> bool {
    let parts: Vec<&str> = inside.split(':').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A numeric range or a one-letter one (`[a:f]`, step optional), the inside of a range in a
/// host name.
fn alphanumeric_range(inside: &str) -> bool {
    let parts: Vec<&str> = inside.split(':').collect();
    let letter = |p: &str| p.len() == 1 && p.bytes().all(|b| b.is_ascii_alphabetic());
    numeric_range(inside)
        || ((2..=3).contains(&parts.len())
            && letter(parts[0])
            && letter(parts[1])
            && parts
                .get(2)
                .is_none_or(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())))
}

/// Each `[...]` in `s` replaced by `with` when `ok` accepts its inside; `None` if one is not
/// accepted or not closed.
fn replace_ranges(s: &str, ok: fn(&str) -> bool, with: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('[') {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find(']')?;
        if !ok(&rest[start + 1..end]) {
            return None;
        }
        out.push_str(with);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Four parts of 0 to 255 (leading zeros allowed, as Ansible's pattern does), any of them a
/// numeric range.
fn is_ipv4(s: &str) -> bool {
    let Some(s) = replace_ranges(s, numeric_range, "0") else {
        return false;
    };
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            (1..=3).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// An IPv6 address, any 16-bit part of it a numeric range. The standard library's parser
/// stands in for Ansible's pattern of the same forms.
fn is_ipv6(s: &str) -> bool {
    replace_ranges(s, numeric_range, "0").is_some_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Labels separated by dots, each made of word characters, `-` and ranges, starting with a
/// word character or a range and not ending with `-` or `_`.
fn is_hostname(s: &str) -> bool {
    s.split('.').all(|label| {
        let Some(label) = replace_ranges(label, alphanumeric_range, "0") else {
            return false;
        };
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let mut chars = label.chars();
        chars.next().is_some_and(word)
            && label.chars().all(|c| word(c) || c == '-')
            && !label.ends_with(['-', '_'])
    })
}

/// `expand_hostname_range`: the first `[begin:end]` or `[begin:end:step]` expanded, then the
/// rest of each name the same way.
fn expand_range(line: &str, hosts: &mut Vec<String>) -> Result<(), String> {
    // As Ansible splits it: the first '[' and the first ']' are the range's brackets.
    let marked = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = marked.split('|').collect();
    let [head, range, tail] = parts[..] else {
        return Err(format!(
            "host range in `{line}`: expected one [begin:end] or [begin:end:step]"
        ));
    };
    let bounds: Vec<&str> = range.split(':').collect();
    if !(2..=3).contains(&bounds.len()) {
        return Err("host range must be begin:end or begin:end:step".into());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err("host range must specify end value".into());
    }
    let number = |s: &str, what: &str| {
        s.trim()
            .parse::<i128>()
            .map_err(|_| format!("host range `[{range}]`: {what} `{s}` is not a number"))
    };
    let step = match bounds.get(2) {
        None => 1,
        Some(s) => match number(s, "the step")? {
            step if step > 0 => step,
            _ => {
                return Err(format!(
                    "host range `[{range}]`: the step must be 1 or more (Ansible refuses 0 and expands a negative step to no hosts)"
                ));
            }
        },
    };
    // A begin with leading zeros pads every number to its width.
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err("host range must specify equal-length begin and end formats".into());
        }
        beg.len()
    } else {
        0
    };
    // Python's `string.ascii_letters.index(beg)`: a letter range when both ends are found.
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let names: Vec<String> = match (LETTERS.find(beg), LETTERS.find(end)) {
        (Some(b), Some(e)) => {
            if b > e {
                return Err("host range must have begin <= end".into());
            }
            LETTERS[b..=e]
                .chars()
                .step_by(usize::try_from(step).unwrap_or(usize::MAX))
                .map(String::from)
                .collect()
        }
        _ => {
            let (b, e) = (number(beg, "the begin")?, number(end, "the end")?);
            let count = match e.checked_sub(b) {
                Some(d) if d >= 0 => (d / step).saturating_add(1),
                Some(_) => 0,
                None => i128::MAX,
            };
            if hosts.len() as i128 + count > MAX_HOSTS as i128 {
                return Err(too_many());
            }
            (0..count)
                .map(|i| format!("{:0width$}", b + i * step))
                .collect()
        }
    };
    for n in names {
        let name = format!("{head}{n}{tail}");
        if name.contains('[') {
            expand_range(&name, hosts)?;
        } else {
            if hosts.len() >= MAX_HOSTS {
                return Err(too_many());
            }
            hosts.push(name);
        }
    }
    Ok(())
}

fn too_many() -> String {
    format!("the host range stands for more than {MAX_HOSTS} hosts, more than provision reads")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(pattern: &str) -> Vec<String> {
        expand(pattern).unwrap().hosts
    }

    #[test]
    fn a_port_is_split_off_an_address_or_a_host_name() {
        let port = |p: &str| {
            let e = expand(p).unwrap();
            (e.hosts.join(","), e.port)
        };
        assert_eq!(
            port("matrix.example.com"),
            ("matrix.example.com".into(), None)
        );
        assert_eq!(
            port("matrix.example.com:2222"),
            ("matrix.example.com".into(), Some(2222))
        );
        assert_eq!(port("10.0.0.1:22"), ("10.0.0.1".into(), Some(22)));
        assert_eq!(port("[fe80::1]:2222"), ("fe80::1".into(), Some(2222)));
        // An IPv6 address without brackets has no port.
        assert_eq!(port("fe80::1"), ("fe80::1".into(), None));
        assert_eq!(port("web[1:2]:2200"), ("web1,web2".into(), Some(2200)));
        // Not an address after the port is taken off: the whole pattern is the name.
        assert_eq!(port("bad$name:22"), ("bad$name:22".into(), None));
    }

    #[test]
    fn numeric_ranges_keep_their_zero_padding_and_take_a_stride() {
        assert_eq!(
            hosts("web[01:03].example.com"),
            [
                "web01.example.com",
                "web02.example.com",
                "web03.example.com"
            ]
        );
        assert_eq!(hosts("web[1:3]"), ["web1", "web2", "web3"]);
        assert_eq!(hosts("n[01:07:3]"), ["n01", "n04", "n07"]);
        assert_eq!(hosts("n[:2]"), ["n0", "n1", "n2"]);
        assert_eq!(hosts("n[098:100]"), ["n098", "n099", "n100"]);
        // A begin past the end stands for no host, as in Ansible.
        assert!(hosts("n[5:1]").is_empty());
    }

    #[test]
    fn letter_ranges_and_several_ranges_in_one_name() {
        assert_eq!(
            hosts("db-[a:c].example.com"),
            ["db-a.example.com", "db-b.example.com", "db-c.example.com"]
        );
        assert_eq!(hosts("x[a:e:2]"), ["xa", "xc", "xe"]);
        assert_eq!(hosts("r[1:2]-[a:b]"), ["r1-a", "r1-b", "r2-a", "r2-b"]);
    }

    #[test]
    fn bad_ranges_are_refused_in_ansibles_words() {
        let e = |p: &str| expand(p).unwrap_err();
        assert_eq!(
            e("n[01:100]"),
            "host range must specify equal-length begin and end formats"
        );
        assert_eq!(e("n[1:]"), "host range must specify end value");
        assert_eq!(e("n[1]"), "host range must be begin:end or begin:end:step");
        assert_eq!(e("n[c:a]"), "host range must have begin <= end");
        assert!(
            e("n[1:3:0]").contains("step must be 1 or more"),
            "{}",
            e("n[1:3:0]")
        );
        assert!(e("n[1:x]").contains("is not a number"));
        assert!(e("n[1:3").contains("expected one [begin:end]"));
        assert!(e("n[0:99999999]").contains("more than 4096 hosts"));
        assert!(e("a[0:99]b[0:99]").contains("more than 4096 hosts"));
    }
}
