#[test]
fn probe() {
    for s in [
        "a: 0O17\n",
        "a: 1_000.5\n",
        "a: 0x_1\n",
        "a: 0b_1\n",
        "a: tRue\n",
        "a: yEs\n",
        "a: 1_0e3\n",
        "a: 1e3_\n",
        "a: 0o8\n",
        "a: 0xg\n",
        "a: 1E_3\n",
        "a: 1.e3\n",
        "a: 1.5E+3\n",
        "a: 0e0\n",
        "a: 1_000_\n",
        "a: _\n",
        "a: 0x\n",
        "a: 0o\n",
        "a: 0b\n",
        "a: 1e\n",
        "a: 00.5\n",
        "a: 0_7\n",
        "a: 0X_1F\n",
        "a: 0b2\n",
        "a: 1.1e-1\n",
    ] {
        let r: Result<Vec<serde_json::Value>, _> = serde_saphyr::from_multiple(s);
        eprintln!(
            "{s:?} => {:?} safe={}",
            r.map_err(|e| e.to_string().lines().next().unwrap_or_default().to_owned()),
            ferry::yaml::scalar::plain_is_safe(&s[3..s.len() - 1])
        );
    }
}
