// Writes generator/mkdeck/tex_names.json: every TeX command and environment that MathJax 3
// knows with all its TeX packages (Anki's MathJax loads them on demand), so `mkdeck check` can
// name an unknown one without running MathJax. Run with Node, after `pip install -e '.[test]'`:
//   node scripts/tex_names.js "$(.venv/bin/python -c 'import mkdeck.preview as p; print(p.mathjax_folder())')"
const fs = require("fs");
const path = require("path");
const mathjax = process.argv[2];
require(path.join(mathjax, "node-main.js")).init({
  loader: { load: ["input/tex-full"], paths: { mathjax } },
}).then((MathJax) => {
  const configurations = MathJax._.input.tex.Configuration.ConfigurationHandler;
  const maps = MathJax._.input.tex.MapHandler.MapHandler;
  const commands = new Set();
  const environments = new Set();
  for (const name of configurations.keys()) {
    const handler = configurations.get(name).handler || {};
    for (const kind of ["macro", "character", "delimiter", "environment"]) {
      for (const mapName of handler[kind] || []) {
        const map = maps.getMap(mapName);
        for (const key of map && map.map ? map.map.keys() : []) {
          // Delimiters are listed as written: `\\langle`, `(`.
          const name = key.startsWith("\\") ? key.slice(1) : key;
          (kind === "environment" ? environments : commands).add(name);
        }
      }
    }
  }
  const names = {
    mathjax: MathJax.version,
    commands: [...commands].filter((c) => /^[A-Za-z]+$/.test(c)).sort(),
    environments: [...environments].sort(),
  };
  const out = path.join(__dirname, "..", "generator", "mkdeck", "tex_names.json");
  fs.writeFileSync(out, JSON.stringify(names) + "\n");
  console.log(`${names.commands.length} commands, ${names.environments.length} environments`);
});
