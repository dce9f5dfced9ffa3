//! `tsdb bucket upload|ls|inspect|verify` on Prometheus' fixture blocks in a file:// bucket.

mod common;

use common::{copy_dir, shared_dir};

use std::process::Command;

/// Runs `tsdb bucket ARGS`, returning (success, stdout, stderr).
fn tsdb(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tsdb"))
        .arg("bucket")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const IDS: [&str; 3] = [
    "01M87WF4HJ3VKBT462E4NRF9ZN",
    "01M87WF4JC440CWPVWMWBXC07T",
    "01M87WF4K5752F9Y5W20DR52AX",
];

#[test]
fn upload_ls_inspect_verify_and_detect_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&shared_dir().join("fixtures/prom-blocks"), &data);
    let bucket_dir = tmp.path().join("bucket");
    let url = format!("file://{}", bucket_dir.display());
    let url = url.as_str();

    let (ok, out, err) = tsdb(&[
        "upload",
        data.to_str().unwrap(),
        "--bucket",
        url,
        "--label",
        "cluster=eu-1",
        "--label",
        "replica=a",
        "--quiet",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("3 blocks uploaded"), "{out}");
    // A one-off upload leaves no shipper state in a directory that is not ours.
    assert!(!data.join("thanos.shipper.json").exists());
    // Uploading again uploads nothing.
    let (ok, out, _) = tsdb(&["upload", data.to_str().unwrap(), "--bucket", url, "-q"]);
    assert!(ok && out.contains("0 blocks uploaded"), "{out}");

    let (ok, out, _) = tsdb(&["ls", "--bucket", url]);
    assert!(ok);
    assert_eq!(out.lines().collect::<Vec<_>>(), IDS);

    // The same bucket named the way Thanos' components take it: an objstore configuration,
    // as text or as a file.
    let yaml = format!(
        "type: FILESYSTEM\nconfig:\n  directory: {}\n",
        bucket_dir.display()
    );
    let (ok, out, err) = tsdb(&["ls", "--objstore.config", &yaml]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), IDS);
    let config_file = tmp.path().join("objstore.yml");
    std::fs::write(&config_file, &yaml).unwrap();
    let (ok, out, err) = tsdb(&[
        "ls",
        "--objstore.config-file",
        config_file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), IDS);
    // A misspelt setting, a missing bucket and two ways at once are refused.
    let (ok, _, err) = tsdb(&[
        "ls",
        "--objstore.config",
        "type: FILESYSTEM\nconfig:\n  dir: /x\n",
    ]);
    assert!(!ok && err.contains("unknown field"), "{err}");
    let (ok, _, err) = tsdb(&["ls"]);
    assert!(!ok && err.contains("a bucket is needed"), "{err}");
    let (ok, _, _) = tsdb(&["ls", "--bucket", url, "--objstore.config", &yaml]);
    assert!(!ok);

    let (ok, out, _) = tsdb(&["inspect", "--bucket", url]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("ULID") && lines[0].contains("RESOLUTION"));
    // Series, samples and chunks as Prometheus' meta.json says, labels and sizes.
    for (line, (id, samples, chunks)) in lines[1..].iter().zip([
        (IDS[0], "7478", "58"),
        (IDS[1], "8400", "70"),
        (IDS[2], "922", "30"),
    ]) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], id);
        assert!(line.contains("cluster=\"eu-1\",replica=\"a\""), "{line}");
        assert_eq!(&cols[7..10], &["30", samples, chunks], "{line}");
        let size: u64 = cols[11].parse().unwrap();
        let local: u64 = ["index", "chunks/000001"]
            .iter()
            .map(|f| std::fs::metadata(data.join(id).join(f)).unwrap().len())
            .sum();
        assert!(size > local, "{line}");
    }

    let (ok, out, _) = tsdb(&["verify", "--bucket", url]);
    assert!(ok, "{out}");
    assert!(out.contains("3 blocks checked, 0 issues"), "{out}");

    // An overlapping block of the same group.
    let dup = "01M87WF4HJ3VKBT462E4NRF9ZZ";
    let dup_dir = tmp.path().join("more").join(dup);
    copy_dir(&data.join(IDS[0]), &dup_dir);
    let meta = std::fs::read_to_string(dup_dir.join("meta.json")).unwrap();
    std::fs::write(dup_dir.join("meta.json"), meta.replace(IDS[0], dup)).unwrap();
    let (ok, _, err) = tsdb(&[
        "upload",
        tmp.path().join("more").to_str().unwrap(),
        "--bucket",
        url,
        "--label",
        "cluster=eu-1",
        "--label",
        "replica=a",
        "-q",
    ]);
    assert!(ok, "{err}");
    let (ok, out, _) = tsdb(&["verify", "--bucket", url]);
    assert!(!ok);
    assert!(
        out.contains("overlap in group") && out.contains(dup),
        "{out}"
    );
    std::fs::remove_dir_all(bucket_dir.join(dup)).unwrap();

    // A missing index, a corrupt index and a partial upload.
    std::fs::remove_file(bucket_dir.join(IDS[0]).join("index")).unwrap();
    let index = bucket_dir.join(IDS[1]).join("index");
    let len = std::fs::metadata(&index).unwrap().len() as usize;
    std::fs::write(&index, vec![0xA5u8; len]).unwrap();
    std::fs::remove_file(bucket_dir.join(IDS[2]).join("meta.json")).unwrap();
    let (ok, out, _) = tsdb(&["verify", "--bucket", url]);
    assert!(!ok);
    assert!(
        out.contains(&format!("{}: missing file index", IDS[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: block does not open", IDS[1])),
        "{out}"
    );
    assert!(
        out.contains(&format!("partial upload: {} has no meta.json", IDS[2])),
        "{out}"
    );
    let (_, out, _) = tsdb(&["ls", "--bucket", url]);
    assert_eq!(out.lines().count(), 2);

    // Bad URLs and labels are errors, not panics.
    let (ok, _, err) = tsdb(&["ls", "--bucket", "ftp://nowhere"]);
    assert!(!ok && err.contains("unknown scheme"), "{err}");
    let (ok, _, err) = tsdb(&[
        "upload",
        data.to_str().unwrap(),
        "--bucket",
        url,
        "--label",
        "bad",
    ]);
    assert!(!ok && err.contains("not k=v"), "{err}");
}
