"""What ships with kdnas: the search spaces and example studies, found by name.

In a checkout they are the top-level `search_spaces/` and `studies/` folders; the package links to
them (`kdnas/search_spaces`, `kdnas/studies`) so the wheel carries them as package data and
`space: mbv2` or `kdnas search demo-digits` work from any folder after `pip install kdnas`.
A reference is a name (`mbv2`, `nni/proxyless-cifar`, `proxyless-cifar`) or a path; a path that
exists always wins, so a user's own `mbv2.yaml` beside their study is never shadowed.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from kdnas.errors import ConfigError

_SUFFIXES = (".yaml", ".yml")


def _folder(kind: str) -> Path:
    return Path(str(files("kdnas") / kind))


def _catalog(kind: str) -> dict[str, Path]:
    """{name: file} of one shipped folder; a file in a subfolder is known as `sub/name` and,
    where no other file has it, by its bare name too."""
    root = _folder(kind)
    found = sorted(p for p in root.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
    out = {p.relative_to(root).with_suffix("").as_posix(): p for p in found}
    bare: dict[str, list[Path]] = {}
    for p in found:
        bare.setdefault(p.stem, []).append(p)
    out.update({stem: ps[0] for stem, ps in bare.items() if len(ps) == 1 and stem not in out})
    return out


def shipped_spaces() -> dict[str, Path]:
    """The search spaces that ship with kdnas, by name."""
    return _catalog("search_spaces")


def shipped_studies() -> dict[str, Path]:
    """The example studies that ship with kdnas, by name."""
    return _catalog("studies")


def looks_like_path(ref: str | Path) -> bool:
    """Whether `ref` is written as a file path (a folder separator or a YAML suffix) rather than a name."""
    text = str(ref)
    return "/" in text or "\\" in text or text.endswith(_SUFFIXES)


def find_space(ref: str | Path, base_dir: Path | None = None) -> Path:
    """The space file `ref` names: an existing path (relative to `base_dir` first), else a shipped space."""
    path = Path(ref).expanduser()
    for candidate in ([base_dir / path] if base_dir is not None and not path.is_absolute() else []) + [path]:
        if candidate.is_file():
            return candidate
    spaces = shipped_spaces()
    if str(ref) in spaces:
        return spaces[str(ref)]
    if looks_like_path(ref):
        raise ConfigError(f"search-space file '{ref}' not found"
                          + (f" (looked in {base_dir} and the current folder)" if base_dir is not None else ""))
    raise ConfigError(f"no search space named '{ref}'; shipped spaces: {', '.join(sorted(spaces)) or 'none'} "
                      "(or give the path of a space file)")
