//! The leveled planner against the cases of Prometheus' `TestLeveledCompactor_plan`,
//! `TestSplitByRange`, `TestRangeWithFailedCompactionWontGetSelected` and
//! `TestNoPanicFor0Tombstones` (v3.5.3), plus the retention-derived range cap.

use tsdb_core::block::meta::BlockMeta;
use tsdb_core::block::BlockStats;
use tsdb_core::compact::planner::{
    block_ranges_for_retention, exponential_block_ranges, split_by_range, LeveledPlanner,
};
use ulid::Ulid;

fn id(name: u32) -> Ulid {
    Ulid::from_parts(1, u128::from(name))
}

fn meta(name: u32, mint: i64, maxt: i64, stats: Option<(u64, u64)>) -> BlockMeta {
    let mut m = BlockMeta::new_level1(id(name), mint, maxt);
    if let Some((series, tombstones)) = stats {
        m.stats = BlockStats {
            num_series: series,
            num_tombstones: tombstones,
            ..Default::default()
        };
    }
    m
}

fn names(plan: &[Ulid]) -> Vec<u32> {
    plan.iter().map(|u| u.random() as u32).collect()
}

fn plan(p: &LeveledPlanner, metas: &[BlockMeta]) -> Vec<u32> {
    names(&p.plan(metas))
}

#[test]
fn leveled_plan_cases() {
    let p = LeveledPlanner::new(vec![20, 60, 180, 540, 1620]).unwrap();
    let cases: Vec<(&str, Vec<BlockMeta>, Vec<u32>)> = vec![
        ("outside range", vec![meta(1, 0, 20, None)], vec![]),
        (
            "wait for four blocks of size 20",
            vec![meta(1, 0, 20, None), meta(2, 20, 40, None)],
            vec![],
        ),
        (
            "three blocks, the fresh one ignored",
            vec![
                meta(1, 0, 20, None),
                meta(2, 20, 40, None),
                meta(3, 40, 60, None),
            ],
            vec![],
        ),
        (
            "block filling the parent range appeared",
            vec![
                meta(1, 0, 20, None),
                meta(2, 20, 40, None),
                meta(3, 40, 60, None),
                meta(4, 60, 80, None),
            ],
            vec![1, 2, 3],
        ),
        (
            "next parent range with a gap, fresh ignored",
            vec![
                meta(1, 0, 20, None),
                meta(2, 20, 40, None),
                meta(3, 60, 80, None),
            ],
            vec![],
        ),
        (
            "gap between second and third: compact the two",
            vec![
                meta(1, 0, 20, None),
                meta(2, 20, 40, None),
                meta(3, 60, 80, None),
                meta(4, 80, 100, None),
            ],
            vec![1, 2],
        ),
        (
            "20, 20, 20, 60, 60 with 5 fresh",
            vec![
                meta(1, 0, 20, None),
                meta(2, 20, 40, None),
                meta(3, 40, 60, None),
                meta(4, 60, 120, None),
                meta(5, 120, 180, None),
            ],
            vec![1, 2, 3],
        ),
        (
            "20, 60, 20, 60, 240: compact 20 + 60 + 60",
            vec![
                meta(2, 20, 40, None),
                meta(4, 60, 120, None),
                meta(5, 960, 980, None),
                meta(6, 120, 180, None),
                meta(7, 720, 960, None),
            ],
            vec![2, 4, 6],
        ),
        (
            "large block with tombstones but no fresh block",
            vec![meta(1, 0, 540, Some((10, 3)))],
            vec![],
        ),
        (
            "large block with tombstones when a fresh one appears",
            vec![meta(1, 0, 540, Some((10, 3))), meta(2, 540, 560, None)],
            vec![1],
        ),
        (
            "small blocks keep their tombstones",
            vec![meta(1, 0, 60, Some((10, 3))), meta(2, 60, 80, None)],
            vec![],
        ),
        (
            "no loop on zero series and zero tombstones",
            vec![meta(1, 0, 540, Some((0, 0))), meta(2, 540, 560, None)],
            vec![],
        ),
        (
            "freshness is by max time, not ULID",
            vec![
                meta(5, 0, 360, None),
                meta(6, 540, 560, None),
                meta(7, 360, 420, None),
                meta(8, 420, 540, None),
            ],
            vec![7, 8],
        ),
        (
            "overlapping blocks 1",
            vec![
                meta(1, 0, 20, None),
                meta(2, 19, 40, None),
                meta(3, 40, 60, None),
            ],
            vec![1, 2],
        ),
        (
            "overlapping blocks 2",
            vec![
                meta(1, 0, 20, None),
                meta(2, 20, 40, None),
                meta(3, 30, 50, None),
            ],
            vec![2, 3],
        ),
        (
            "overlapping blocks 3",
            vec![
                meta(1, 0, 20, None),
                meta(2, 10, 40, None),
                meta(3, 30, 50, None),
            ],
            vec![1, 2, 3],
        ),
        (
            "overlapping blocks 4",
            vec![
                meta(5, 0, 360, None),
                meta(6, 340, 560, None),
                meta(7, 360, 420, None),
                meta(8, 420, 540, None),
            ],
            vec![5, 6, 7, 8],
        ),
        (
            "overlapping blocks 5",
            vec![
                meta(1, 0, 10, None),
                meta(2, 9, 20, None),
                meta(3, 30, 40, None),
                meta(4, 39, 50, None),
            ],
            vec![1, 2],
        ),
    ];
    for (title, metas, want) in cases {
        assert_eq!(plan(&p, &metas), want, "{title}");
    }
}

#[test]
fn small_block_entirely_deleted_is_rewritten() {
    // A block shorter than the middle range is rewritten when it has at least as many
    // tombstones as series.
    let p = LeveledPlanner::new(vec![20, 60, 180, 540, 1620]).unwrap();
    let metas = [meta(1, 0, 60, Some((10, 10))), meta(2, 60, 80, None)];
    assert_eq!(plan(&p, &metas), [1]);
}

#[test]
fn failed_compaction_is_never_selected() {
    let p = LeveledPlanner::new(vec![20, 60, 240, 720, 2160]).unwrap();
    let cases = vec![
        vec![
            meta(1, 0, 20, None),
            meta(2, 20, 40, None),
            meta(3, 40, 60, None),
            meta(4, 60, 80, None),
        ],
        vec![
            meta(1, 0, 20, None),
            meta(2, 20, 40, None),
            meta(3, 60, 80, None),
            meta(4, 80, 100, None),
        ],
        vec![
            meta(1, 0, 20, None),
            meta(2, 20, 40, None),
            meta(3, 40, 60, None),
            meta(4, 60, 120, None),
            meta(5, 120, 180, None),
            meta(6, 180, 200, None),
        ],
    ];
    for mut metas in cases {
        assert!(
            !p.plan(&metas).is_empty(),
            "sanity: plannable without the flag"
        );
        metas[1].compaction.failed = true;
        assert_eq!(plan(&p, &metas), Vec::<u32>::new());
    }
}

#[test]
fn single_range_and_zero_tombstones_do_not_panic() {
    let p = LeveledPlanner::new(vec![50]).unwrap();
    assert!(p
        .plan(&[meta(1, 0, 100, None), meta(2, 101, 200, None)])
        .is_empty());
    assert!(LeveledPlanner::new(vec![]).is_none());
    assert!(p.plan(&[]).is_empty());
}

#[test]
fn disabled_vertical_compaction_ignores_overlaps() {
    let p = LeveledPlanner::new(vec![20, 60])
        .unwrap()
        .with_overlapping_compaction(false);
    let metas = [
        meta(1, 0, 20, None),
        meta(2, 19, 40, None),
        meta(3, 40, 60, None),
    ];
    assert!(p.plan(&metas).is_empty());
}

#[test]
fn split_by_range_cases() {
    type Ranges = Vec<(i64, i64)>;
    let cases: Vec<(i64, Ranges, Vec<Ranges>)> = vec![
        (60, vec![(0, 10)], vec![vec![(0, 10)]]),
        (60, vec![(0, 60)], vec![vec![(0, 60)]]),
        (
            60,
            vec![(0, 10), (9, 15), (30, 60)],
            vec![vec![(0, 10), (9, 15), (30, 60)]],
        ),
        (
            60,
            vec![(70, 90), (125, 130), (130, 180), (1000, 1001)],
            vec![
                vec![(70, 90)],
                vec![(125, 130), (130, 180)],
                vec![(1000, 1001)],
            ],
        ),
        (60, vec![(50, 70), (70, 80)], vec![vec![(70, 80)]]),
        (
            72,
            vec![(0, 144), (144, 216), (216, 288)],
            vec![vec![(144, 216)], vec![(216, 288)]],
        ),
        (60, vec![(-10, -5)], vec![vec![(-10, -5)]]),
        (
            60,
            vec![(-60, -50), (-10, -5)],
            vec![vec![(-60, -50), (-10, -5)]],
        ),
        (
            60,
            vec![(-60, -50), (-10, -5), (0, 15)],
            vec![vec![(-60, -50), (-10, -5)], vec![(0, 15)]],
        ),
    ];
    for (tr, ranges, want) in cases {
        let metas: Vec<BlockMeta> = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| meta(i as u32, r.0, r.1, None))
            .collect();
        let refs: Vec<&BlockMeta> = metas.iter().collect();
        let got: Vec<Vec<(i64, i64)>> = split_by_range(&refs, tr)
            .into_iter()
            .map(|g| g.into_iter().map(|m| (m.min_time, m.max_time)).collect())
            .collect();
        assert_eq!(got, want, "tr={tr} ranges={ranges:?}");
    }
}

#[test]
fn ranges_follow_retention_like_prometheus() {
    let h = 3_600_000i64;
    let d = 24 * h;
    assert_eq!(
        exponential_block_ranges(2 * h, 3, 3),
        [2 * h, 6 * h, 18 * h]
    );
    // No retention: capped at 31 d, so up to 2h*3^5 = 486 h (20.25 d).
    assert_eq!(
        block_ranges_for_retention(2 * h, 0),
        exponential_block_ranges(2 * h, 6, 3)
    );
    // 15 d retention (Prometheus' default): max block 36 h.
    assert_eq!(
        block_ranges_for_retention(2 * h, 15 * d),
        [2 * h, 6 * h, 18 * h]
    );
    // Retention shorter than 10 blocks: only the head's range.
    assert_eq!(block_ranges_for_retention(2 * h, 12 * h), [2 * h]);
    // One year: capped at 31 d.
    assert_eq!(
        block_ranges_for_retention(2 * h, 365 * d).last(),
        Some(&(486 * h))
    );
}

#[test]
fn extreme_metas_do_not_overflow() {
    assert!(LeveledPlanner::new(vec![0, 10]).is_none());
    assert!(LeveledPlanner::new(vec![-5]).is_none());
    let p = LeveledPlanner::new(vec![20, 60, 180]).unwrap();
    let metas = [
        meta(1, i64::MIN, i64::MIN + 7, Some((1, 1))),
        meta(2, i64::MIN + 7, 0, None),
        meta(3, 0, i64::MAX, Some((0, 5))),
        meta(4, i64::MAX - 1, i64::MAX, None),
    ];
    // Whatever is planned, it is a valid subset and nothing panics.
    for u in p.plan(&metas) {
        assert!(metas.iter().any(|m| m.ulid == u));
    }
    let refs: Vec<&BlockMeta> = metas.iter().collect();
    for tr in [1, 7, i64::MAX] {
        let _ = split_by_range(&refs, tr);
    }
    assert!(split_by_range(&refs, 0).is_empty());
}
