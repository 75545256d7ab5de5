#!/usr/bin/env python3
"""Runs `ppdm-exporter check` on the example configs shipped under deploy/.

The configs name files that exist only where they are deployed (systemd
credentials, mounted Secrets, CA files), so each is checked twice: as shipped,
where the exporter must reject it with exit 78 for those missing files only,
and with every `password_file` and `ca_file` moved to a stand-in file in a
temporary directory, where it must pass. That proves the example uses the keys
and values that the real parser accepts.

The binary is $PPDM_EXPORTER_BIN, else the newer of target/release and
target/debug; without one the script says so and exits 0, building nothing.
Closes with `configs: N passed, M failed`.
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = [ROOT / "deploy" / "systemd" / "config.toml", ROOT / "deploy" / "kubernetes" / "config.toml"]
FILE_KEYS = re.compile(r'^(\s*(?:password_file|ca_file)\s*=\s*)"([^"]+)"', re.M)
EX_CONFIG = 78


def find_binary():
    if os.environ.get("PPDM_EXPORTER_BIN"):
        return pathlib.Path(os.environ["PPDM_EXPORTER_BIN"])
    built = [ROOT / "target" / p / "ppdm-exporter" for p in ("release", "debug")]
    built = [p for p in built if p.is_file() and os.access(p, os.X_OK)]
    return max(built, key=lambda p: p.stat().st_mtime, default=None)


def check(binary, config):
    result = subprocess.run(
        [str(binary), "check", "--offline", "--config", str(config)], capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PPDM_EXPORTER_")},
    )
    return result.returncode, result.stdout + result.stderr


def stand_in_certificate(path):
    """Writes a throwaway self-signed certificate, since ca_file must hold PEM."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=stand-in", "-keyout", str(path) + ".key", "-out", str(path)],
        check=True, capture_output=True,
    )


def with_stand_ins(text, directory):
    """Returns the config text with each file moved under directory, creating it."""

    def move(match):
        path = directory / match.group(2).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if match.group(2).endswith(".pem"):
            stand_in_certificate(path)
        else:
            path.write_text("stand-in")
        return f'{match.group(1)}"{path}"'

    return FILE_KEYS.sub(move, text)


def main():
    binary = find_binary()
    if binary is None:
        print("configs: skipped, no built ppdm-exporter (set PPDM_EXPORTER_BIN or cargo build)")
        return 0
    print(f"configs: using {binary}")

    passed = failed = 0
    for config in CONFIGS:
        name = config.relative_to(ROOT)
        text = config.read_text()
        code, output = check(binary, config)
        missing = len(FILE_KEYS.findall(text))
        problems = [line for line in output.splitlines() if line.strip().startswith("- ")]
        if code == EX_CONFIG and len(problems) == missing and all("file" in p for p in problems):
            passed += 1
            print(f"ok   {name} as shipped: rejected for its {missing} deploy-time files only")
        else:
            failed += 1
            print(f"FAIL {name} as shipped: exit {code}, expected {EX_CONFIG} for {missing} files\n{output}")

        with tempfile.TemporaryDirectory() as tmp:
            staged = pathlib.Path(tmp) / "config.toml"
            staged.write_text(with_stand_ins(text, pathlib.Path(tmp) / "files"))
            code, output = check(binary, staged)
        if code == 0:
            passed += 1
            print(f"ok   {name} with stand-in files: valid")
        else:
            failed += 1
            print(f"FAIL {name} with stand-in files: exit {code}\n{output}")

    print(f"configs: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
