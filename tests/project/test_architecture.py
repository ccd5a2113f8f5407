"""The boundaries the design depends on, checked on the source itself."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "portal"
SIMULATOR = ROOT / "simulator"
IDP = ROOT / "idp"
IMPORT = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", re.MULTILINE)


def imports_of(path):
    return set(IMPORT.findall(path.read_text()))


def probe_imports(*modules):
    """The modules of Django, Celery or the portal that importing `modules` loads, in a fresh
    interpreter at the repository root (where the simulator and the provider run from)."""
    probe = (
        f"import sys, {', '.join(modules)}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'portal')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_every_import_contract_is_kept():
    """The layers, the independence of the simulator and the provider, the SDKs in
    portal.cloud.services alone: pyproject.toml's contracts, which `make lint` runs too."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert f"Contracts: {len(contracts['contracts'])} kept, 0 broken." in result.stdout


def test_every_cloud_sdk_the_portal_depends_on_is_the_cloud_modules_alone():
    """PrivateLink's SDK and the load balancer products' (the picker's listings): each is a
    dependency, is imported by portal/cloud/services.py, and by nothing else (the contract
    that protects them, above, lists them all)."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    sdks = {
        re.split(r"[<>=\[ ]", name, maxsplit=1)[0].replace("-", "_")
        for name in dependencies
        if name.startswith("alibabacloud-")
    }
    assert {
        "alibabacloud_privatelink20200415",
        "alibabacloud_slb20140515",
        "alibabacloud_alb20200616",
        "alibabacloud_nlb20220430",
    } <= sdks
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    protected = next(c for c in contracts["contracts"] if c["type"] == "protected")
    assert sdks <= set(protected["protected_modules"])
    assert protected["allowed_importers"] == ["portal.cloud.services"]
    imported = imports_of(PORTAL / "cloud" / "services.py")
    for sdk in sdks:
        assert any(m.split(".")[0] == sdk for m in imported), sdk


def test_the_identity_provider_and_the_simulator_load_nothing_of_django_or_the_portal():
    """The contracts read the source; this runs it: importing either loads none of them."""
    assert probe_imports("idp.__main__") == "[]"
    assert probe_imports("simulator.__main__", "simulator.server") == "[]"


def test_the_distribution_is_the_portal_alone():
    """The simulator and the demo provider run from the checkout; the wheel holds neither."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["portal*"]
    assert all(name.split(".")[0] == "portal" for name in setuptools.get("package-data", {}))


def test_the_console_script_is_a_plain_sdk_client():
    imports = imports_of(ROOT / "scripts" / "console.py")
    assert not any(m.startswith(("portal", "django", "celery")) for m in imports), imports
