//! `plughost-c-bindgen <wit file or dir> <world> <out dir>`: what `wit-bindgen c <wit> --world <world>
//! --out-dir <out dir> --no-object-file` does, with wit-bindgen-c's default options otherwise.
use anyhow::{bail, Context, Result};
use wit_bindgen_core::wit_parser::Resolve;
use wit_bindgen_core::Files;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 1 && args[0] == "--version" {
        println!("plughost-c-bindgen {} (wit-bindgen-c 0.63.0)", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let [wit, world, out] = args.as_slice() else {
        bail!("usage: plughost-c-bindgen <wit file or dir> <world> <out dir>");
    };
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve.push_path(wit).with_context(|| format!("reading {wit}"))?;
    let world = resolve.select_world(&[pkg], Some(world))?;
    let mut opts = wit_bindgen_c::Opts::default();
    opts.no_object_file = true;
    let mut files = Files::default();
    opts.build().generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out)?;
    for (name, contents) in files.iter() {
        let path = std::path::Path::new(out).join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
