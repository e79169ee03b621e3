"""env_file with zei as PID 1: the service gets the files' variables (environment wins),
`zei status` shows the names and never the values, and the files are read as the app
identity (a file it cannot read is a config problem, not read with root's rights)."""
import json

from conftest import q


def test_a_service_sees_its_env_files_and_status_shows_only_the_names(zei_run, tmp_path):
    (tmp_path / "app.env").write_text("# app settings\nA=from-file\nexport B='two words'\nSECRET=\"hunter2\"\n")
    (tmp_path / "local.env").write_text("B=local\n")
    z = zei_run(f"""
services:
  web:
    command: {q("sh", "-c", "echo vars: $A/$B/$C/$SECRET; exec sleep 1000")}
    env_file:
      - app.env
      - path: local.env
      - path: missing.env
        required: false
    environment:
      C: from-config
""")
    z.wait_log(r"^web\[out\] vars: from-file/local/from-config/hunter2$")
    data = json.loads(z.cli("status", "web", "--json", check=True).stdout)
    assert data["services"][0]["env_files"] == [
        {"path": str(tmp_path / "app.env"), "names": ["A", "B", "SECRET"]},
        {"path": str(tmp_path / "local.env"), "names": ["B"]}]
    text = z.cli("status", "web", check=True).stdout
    assert f"  env file:   {tmp_path}/app.env (A, B, SECRET)\n" in text
    listed = z.cli("list", "--json", check=True).stdout
    for shown in (json.dumps(data), text, listed):
        assert "hunter2" not in shown and "from-file" not in shown and "two words" not in shown


def test_a_bad_env_file_stops_the_boot_with_both_lines(zei_run, tmp_path):
    (tmp_path / "app.env").write_text("A=1\nnot a variable\n")
    z = zei_run(f"""
services:
  web:
    command: {q("sleep", "1000")}
    env_file: [app.env, gone.env]
""")
    assert z.wait_exit() == 2
    log = z.log()
    cfg = tmp_path / "zei.yaml"
    assert f"{cfg}:5: services.web.env_file: {tmp_path}/app.env:2: expected KEY=VALUE: the line has no '='" in log
    assert "not a variable" not in log
    assert f"{cfg}:5: services.web.env_file: cannot read {tmp_path}/gone.env: No such file or directory" in log
    assert "2 problem(s)" in log


def test_env_files_are_read_as_the_app_identity(zei_run, test_users, open_tmp):
    secret = open_tmp / "root-only.env"
    secret.write_text("A=1\n")
    secret.chmod(0o600)
    z = zei_run(f"""
services:
  web:
    command: {q("sleep", "1000")}
    env_file: root-only.env
""", env={"ZEI_APP_USER": "zeitest-a"}, tmp=open_tmp)
    assert z.wait_exit() == 2
    assert f"services.web.env_file: cannot read {secret}: Permission denied" in z.log()
