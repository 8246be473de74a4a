//! Prometheus text exposition parser (the scrape source): arbitrary bytes
//! never panic; an error names the source; every metric that parsed can be
//! selected (summed, averaged, grouped by a label) without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planscale::sources::scrape::{Aggregate, Exposition, Selector};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Exposition::parse(&text, "fuzz") {
        Err(e) => assert!(e.to_string().contains("fuzz"), "{e}"),
        Ok(page) => {
            for s in page.samples.iter().take(8) {
                let label = s.labels.keys().next().cloned();
                let mut sels = vec![
                    Selector::metric(&s.name),
                    Selector::metric(&s.name).aggregate(Aggregate::Avg),
                ];
                if let Some(l) = label {
                    let v = s.labels[&l].clone();
                    sels.push(Selector::metric(&s.name).label(&l, &v));
                    sels.push(Selector::metric(&s.name).by(&[l.as_str()]));
                }
                for sel in sels {
                    let _ = page.select(&sel);
                    let _ = page.value(&sel);
                }
            }
        }
    }
});
