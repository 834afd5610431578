"""Reject a bad answer before anything is generated, with one line saying what would be accepted.

Answers are read as data (JSON through `tojson`), never pasted into code, so quotes, newlines
and injection attempts are just strings here.

`validate` runs twice: once as soon as the prompts are answered, before cookiecutter creates
the project's directory (local_extensions.py imports this file unrendered and calls it, so
that an empty or overlong slug is refused in one line rather than by cookiecutter's failure to
create a directory of that name), and here, as the hook, for answers that reach generation
another way (a replay file, the API). Importing this file must therefore not need Jinja.

The names a package may not take are derived (scripts/forbidden_names.py writes them between
the BEGIN/END markers): each supported Python's standard library, and the import names of
every package in the generated uv.lock.
"""

import json
import keyword
import re
import sys

SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
TASKS = ("binary", "multiclass", "regression")
LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary")
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")
MAX_SLUG = 64
MAX_LINE = 120
MAX_DESCRIPTION = 500

# BEGIN FORBIDDEN NAMES: written by scripts/forbidden_names.py (`make relock`); do not edit.
# fmt: off
# sys.stdlib_module_names of Python 3.11, 3.12, 3.13, together.
STDLIB_MODULES = frozenset({
    "abc", "aifc", "antigravity", "argparse", "array", "ast", "asynchat", "asyncio", "asyncore",
    "atexit", "audioop", "base64", "bdb", "binascii", "bisect", "builtins", "bz2", "calendar",
    "cgi", "cgitb", "chunk", "cmath", "cmd", "code", "codecs", "codeop", "collections", "colorsys",
    "compileall", "concurrent", "configparser", "contextlib", "contextvars", "copy", "copyreg",
    "crypt", "csv", "ctypes", "curses", "dataclasses", "datetime", "dbm", "decimal", "difflib",
    "dis", "distutils", "doctest", "email", "encodings", "ensurepip", "enum", "errno",
    "faulthandler", "fcntl", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools",
    "gc", "genericpath", "getopt", "getpass", "gettext", "glob", "graphlib", "grp", "gzip",
    "hashlib", "heapq", "hmac", "html", "http", "idlelib", "imaplib", "imghdr", "imp", "importlib",
    "inspect", "io", "ipaddress", "itertools", "json", "keyword", "lib2to3", "linecache", "locale",
    "logging", "lzma", "mailbox", "mailcap", "marshal", "math", "mimetypes", "mmap", "modulefinder",
    "msilib", "msvcrt", "multiprocessing", "netrc", "nis", "nntplib", "nt", "ntpath", "nturl2path",
    "numbers", "opcode", "operator", "optparse", "os", "ossaudiodev", "pathlib", "pdb", "pickle",
    "pickletools", "pipes", "pkgutil", "platform", "plistlib", "poplib", "posix", "posixpath",
    "pprint", "profile", "pstats", "pty", "pwd", "py_compile", "pyclbr", "pydoc", "pydoc_data",
    "pyexpat", "queue", "quopri", "random", "re", "readline", "reprlib", "resource", "rlcompleter",
    "runpy", "sched", "secrets", "select", "selectors", "shelve", "shlex", "shutil", "signal",
    "site", "smtpd", "smtplib", "sndhdr", "socket", "socketserver", "spwd", "sqlite3",
    "sre_compile", "sre_constants", "sre_parse", "ssl", "stat", "statistics", "string",
    "stringprep", "struct", "subprocess", "sunau", "symtable", "sys", "sysconfig", "syslog",
    "tabnanny", "tarfile", "telnetlib", "tempfile", "termios", "textwrap", "this", "threading",
    "time", "timeit", "tkinter", "token", "tokenize", "tomllib", "trace", "traceback",
    "tracemalloc", "tty", "turtle", "turtledemo", "types", "typing", "unicodedata", "unittest",
    "urllib", "uu", "uuid", "venv", "warnings", "wave", "weakref", "webbrowser", "winreg",
    "winsound", "wsgiref", "xdrlib", "xml", "xmlrpc", "zipapp", "zipfile", "zipimport", "zlib",
    "zoneinfo"
})
# The generated uv.lock's packages, with the import names each installs.
LOCKED_IMPORTS: dict[str, tuple[str, ...]] = {
    "aiobotocore==3.10.0": ("aiobotocore",),
    "aiohappyeyeballs==2.7.1": ("aiohappyeyeballs",),
    "aiohttp-retry==2.9.1": ("aiohttp_retry",),
    "aiohttp==3.14.5": ("aiohttp",),
    "aioitertools==0.13.0": ("aioitertools",),
    "aiosignal==1.4.0": ("aiosignal",),
    "alembic==1.20.1": ("alembic",),
    "amqp==5.4.2": ("amqp",),
    "annotated-doc==0.0.7": ("annotated_doc",),
    "annotated-types==0.8.0": ("annotated_types",),
    "antlr4-python3-runtime==4.9.3": ("antlr4",),
    "anyio==4.16.0": ("anyio",),
    "appdirs==1.4.4": ("appdirs",),
    "ast-serialize==0.13.1": ("ast_serialize",),
    "asyncssh==2.24.1": ("asyncssh",),
    "atpublic==9.0.0": ("public",),
    "attrs==26.1.0": ("attr", "attrs"),
    "billiard==4.3.2": ("billiard",),
    "blinker==1.9.0": ("blinker",),
    "boto3==1.43.117": ("boto3",),
    "botocore==1.43.117": ("botocore",),
    "cachetools==7.3.2": ("cachetools",),
    "celery==5.7.0": ("celery",),
    "certifi==2026.10.18": ("certifi",),
    "cffi==2.1.1": ("cffi",),
    "cfgv==3.5.0": ("cfgv",),
    "charset-normalizer==3.5.2": ("charset_normalizer",),
    "click-didyoumean==0.3.1": ("click_didyoumean",),
    "click-plugins==1.1.1.2": ("click_plugins",),
    "click-repl==0.4.1": ("click_repl",),
    "click==8.5.1": ("click",),
    "cloudpickle==3.1.2": ("cloudpickle",),
    "colorama==0.4.6": ("colorama",),
    "configobj==5.0.9": ("configobj", "validate"),
    "contourpy==1.3.3": ("contourpy",),
    "contourpy==1.4.0": ("contourpy",),
    "cryptography==50.0.2": ("cryptography",),
    "cycler==0.12.1": ("cycler",),
    "databricks-sdk==0.156.0": ("databricks",),
    "defusedxml==0.7.1": ("defusedxml",),
    "deprecation==2.1.0": ("deprecation",),
    "dictdiffer==0.10.0": ("dictdiffer",),
    "diskcache==5.6.3": ("diskcache",),
    "distlib==0.4.4": ("distlib",),
    "distro==1.9.0": ("distro",),
    "docker==7.2.0": ("docker",),
    "dpath==2.2.0": ("dpath",),
    "dulwich==1.2.21": ("dulwich",),
    "dvc-data==3.18.3": ("dvc_data",),
    "dvc-http==2.32.0": ("dvc_http",),
    "dvc-objects==5.2.0": ("dvc_objects",),
    "dvc-render==1.0.2": ("dvc_render",),
    "dvc-s3==3.3.0": ("dvc_s3",),
    "dvc-studio-client==0.23.0": ("dvc_studio_client",),
    "dvc-task==0.40.2": ("dvc_task",),
    "dvc==3.67.1": ("dvc",),
    "dynaconf==3.3.5": ("dynaconf", "vendor_licenses"),
    "entrypoints==0.4.2": ("entrypoints",),
    "evidently==0.7.23": ("evidently",),
    "fairlearn==0.15.0": ("fairlearn",),
    "faker==40.54.0": ("faker",),
    "fastapi==0.165.0": ("fastapi",),
    "filelock==4.2.12": ("filelock",),
    "flask-cors==6.0.5": ("flask_cors",),
    "flask==3.1.3": ("flask",),
    "flatten-dict==0.5.0": ("flatten_dict",),
    "flufl-lock==9.2.0": ("flufl",),
    "fonttools==4.68.0": (),
    "formulaic==1.2.2": ("formulaic",),
    "frozenlist==1.8.0": ("frozenlist",),
    "fsspec==2026.9.0": ("fsspec",),
    "funcy==2.1": ("funcy",),
    "gitdb==4.0.12": ("gitdb",),
    "gitpython==3.2.1": ("git",),
    "google-auth==2.62.2": ("google",),
    "grandalf==0.8": ("grandalf",),
    "graphene==3.4.3": ("graphene",),
    "graphql-core==3.2.14": ("graphql",),
    "graphql-relay==3.2.0": ("graphql_relay",),
    "gto==1.10.1": ("gto",),
    "gunicorn==26.2.0": ("gunicorn",),
    "h11==0.16.0": ("h11",),
    "httpcore==1.0.9": ("httpcore",),
    "httptools==0.9.0": ("httptools",),
    "httpx==0.28.1": ("httpx",),
    "huey==3.5.4": ("huey",),
    "hydra-core==1.3.8": ("hydra",),
    "identify==2.6.20": ("identify",),
    "idna==3.20": ("idna",),
    "importlib-metadata==9.1.0": ("importlib_metadata",),
    "iniconfig==2.3.1": ("iniconfig",),
    "interface-meta==2.0.1": ("interface_meta",),
    "iterative-telemetry==0.0.10": ("iterative_telemetry",),
    "itsdangerous==2.2.0": ("itsdangerous",),
    "jinja2==3.1.6": ("jinja2",),
    "jmespath==1.1.0": ("jmespath",),
    "joblib==1.6.0": ("joblib",),
    "kiwisolver==1.5.1": ("kiwisolver",),
    "kombu==5.7.0": ("kombu",),
    "librt==0.16.0": ("librt",),
    "litestar-htmx==0.5.0": ("litestar_htmx",),
    "litestar==2.25.0": ("litestar",),
    "mako==1.4.3": ("mako",),
    "markdown-it-py==4.3.0": ("markdown_it",),
    "markupsafe==3.0.4": ("markupsafe",),
    "matplotlib==3.11.2": ("matplotlib", "mpl_toolkits", "pylab"),
    "mdurl==0.1.2": ("mdurl",),
    "mlflow-skinny==3.17.2": ("mlflow",),
    "mlflow-tracing==3.17.2": ("mlflow",),
    "mlflow==3.17.2": ("mlflow",),
    "msgspec==0.22.0": ("msgspec",),
    "multidict==7.2.1": ("multidict",),
    "multipart==2.0.1": ("multipart",),
    "mypy-extensions==1.2.0": ("mypy_extensions",),
    "mypy==2.4.1": ("mypy", "mypyc"),
    "narwhals==2.29.0": ("narwhals",),
    "networkx==3.6.1": ("networkx",),
    "networkx==3.7": ("networkx",),
    "nltk==3.10.4": ("nltk",),
    "nodeenv==1.12.0": ("nodeenv",),
    "numpy==2.4.6": ("numpy",),
    "omegaconf==2.3.1": ("omegaconf", "pydevd_plugins"),
    "opentelemetry-api==1.45.2": ("opentelemetry",),
    "opentelemetry-proto==1.45.2": ("opentelemetry",),
    "opentelemetry-sdk==1.45.2": ("opentelemetry",),
    "opentelemetry-semantic-conventions==0.66b2": ("opentelemetry",),
    "orjson==3.13.0": ("orjson",),
    "packaging==26.3": ("packaging",),
    "pandas-stubs==2.3.3.260113": (),
    "pandas==2.3.3": ("pandas",),
    "pandera==0.35.0": ("pandera",),
    "pathspec==1.1.1": ("pathspec",),
    "patsy==1.0.3": ("patsy",),
    "pillow==13.0.0": (),
    "platformdirs==4.14.7": ("platformdirs",),
    "plotly==5.24.1": ("jupyterlab_plotly", "plotly"),
    "pluggy==1.7.0": ("pluggy",),
    "polyfactory==3.5.0": ("polyfactory",),
    "pre-commit-hooks==6.0.0": ("pre_commit_hooks",),
    "pre-commit==4.7.0": ("pre_commit",),
    "prettytable==3.18.0": ("prettytable",),
    "prometheus-client==0.26.0": ("prometheus_client",),
    "prompt-toolkit==3.0.53": ("prompt_toolkit",),
    "propcache==0.5.4": ("propcache",),
    "protobuf==7.36.2": ("google",),
    "psutil==7.2.2": ("psutil",),
    "psycopg-binary==3.3.9": ("psycopg_binary",),
    "psycopg==3.3.9": ("psycopg",),
    "pyarrow==25.0.1": ("pyarrow",),
    "pyasn1-modules==0.4.2": ("pyasn1_modules",),
    "pyasn1==0.6.5": ("pyasn1",),
    "pycparser==3.12": ("pycparser",),
    "pydantic-core==2.50.4": ("pydantic_core",),
    "pydantic-settings==2.16.3": ("pydantic_settings",),
    "pydantic==2.14.3": ("pydantic",),
    "pydot==4.0.1": ("pydot",),
    "pygit2==1.21.0": ("pygit2",),
    "pygments==2.21.0": ("pygments",),
    "pygtrie==2.6.2": ("pygtrie",),
    "pyparsing==3.3.3": ("pyparsing",),
    "pytest==9.2.0": ("py", "pytest"),
    "python-dateutil==2.9.0.post0": ("dateutil",),
    "python-discovery==1.9.5": ("python_discovery",),
    "python-dotenv==1.2.4": ("dotenv",),
    "pytz==2026.6": ("pytz",),
    "pywin32==312": (
        "adodbapi", "afxres", "commctrl", "dde", "isapi", "mmapfile", "mmsystem", "netbios",
        "ntsecuritycon", "odbc", "perfmon", "pythoncom", "pythonwin", "pywin", "pywin32_bootstrap",
        "pywin32_system32", "pywin32_testutil", "pywintypes", "rasutil", "regcheck", "regutil",
        "servicemanager", "sspi", "sspicon", "timer", "win2kras", "win32", "win32api",
        "win32clipboard", "win32com", "win32comext", "win32con", "win32console", "win32cred",
        "win32crypt", "win32cryptcon", "win32event", "win32evtlog", "win32evtlogutil", "win32file",
        "win32gui", "win32gui_struct", "win32help", "win32inet", "win32inetcon", "win32job",
        "win32lz", "win32net", "win32netcon", "win32pdh", "win32pdhquery", "win32pdhutil",
        "win32pipe", "win32print", "win32process", "win32profile", "win32ras", "win32rcparser",
        "win32security", "win32service", "win32serviceutil", "win32timezone", "win32trace",
        "win32traceutil", "win32transaction", "win32ts", "win32ui", "win32uiole", "win32verstamp",
        "win32wnet", "winerror", "winioctlcon", "winnt", "winperf", "winxpgui", "winxptheme",
    ),
    "pyyaml==6.0.3": ("yaml",),
    "regex==2026.11.15": ("regex",),
    "requests==2.34.2": ("requests",),
    "rich-click==1.9.9": ("rich_click",),
    "rich==15.0.0": ("rich",),
    "ruamel-yaml==0.19.1": ("ruamel",),
    "ruff==0.17.6": ("ruff",),
    "s3fs==2026.9.0": ("s3fs",),
    "s3transfer==0.19.3": ("s3transfer",),
    "scikit-learn==1.9.1": ("sklearn",),
    "scipy==1.17.1": ("scipy",),
    "scipy==1.18.1": ("scipy",),
    "scmrepo==3.6.2": ("scmrepo",),
    "semver==3.1.1": ("semver",),
    "setuptools==84.2.1": ("setuptools",),
    "shellingham==1.5.4": ("shellingham",),
    "shortuuid==1.0.13": ("shortuuid",),
    "shtab==1.13.0": ("shtab",),
    "six==1.17.0": ("six",),
    "skops==0.16.0": ("skops",),
    "smmap==5.0.3": ("smmap",),
    "sniffio==1.3.1": ("sniffio",),
    "sqlalchemy==2.1.9": ("sqlalchemy",),
    "sqlparse==0.6.1": ("sqlparse",),
    "sqltrie==0.11.3": ("sqltrie",),
    "starlette==1.10.0": ("starlette",),
    "statsmodels==0.15.0": ("statsmodels",),
    "tabulate==0.10.0": ("tabulate",),
    "tenacity==9.2.1": ("tenacity",),
    "threadpoolctl==3.8.0": ("threadpoolctl",),
    "tomlkit==0.15.2": ("tomlkit",),
    "tqdm==4.70.1": ("tqdm",),
    "typeguard==4.6.0": ("typeguard",),
    "typer==0.29.2": ("typer",),
    "types-pytz==2026.6.0.20261031": (),
    "types-pyyaml==6.0.12.20261113": (),
    "typing-extensions==4.16.0": ("typing_extensions",),
    "typing-inspect==0.9.0": ("typing_inspect",),
    "typing-inspection==0.4.5": ("typing_inspection",),
    "tzdata==2026.6": ("tzdata",),
    "tzlocal==5.4.5": ("tzlocal",),
    "ujson==6.1.0": ("ujson",),
    "urllib3==2.8.0": ("urllib3",),
    "uuid6==2025.0.1": ("uuid6",),
    "uvicorn==0.54.0": ("uvicorn",),
    "uvloop==0.23.0": ("uvloop",),
    "vine==5.1.0": ("vine",),
    "virtualenv==21.15.8": ("virtualenv",),
    "voluptuous==0.16.0": ("voluptuous",),
    "waitress==3.0.2": ("waitress",),
    "watchdog==7.1.0": ("watchdog",),
    "watchfiles==1.3.0": ("watchfiles",),
    "wcwidth==0.9.4": ("wcwidth",),
    "websockets==17.4": ("websockets",),
    "werkzeug==3.1.9": ("werkzeug",),
    "wrapt==2.5.2": ("wrapt",),
    "yarl==1.25.1": ("yarl",),
    "zc-lockfile==4.0": ("zc",),
    "zipp==4.1.2": ("zipp",),
}
# fmt: on
# END FORBIDDEN NAMES

# Not derivable from the lock or the standard library: Python imports the first two at start-up
# from anywhere on sys.path; the project has its own tests/ and tests/conftest.py.
STARTUP_MODULES = frozenset({"sitecustomize", "usercustomize"})
PROJECT_MODULES = frozenset({"conftest", "tests"})
LOCKED_PACKAGES = frozenset(key.partition("==")[0] for key in LOCKED_IMPORTS)


def rendered_answers() -> dict[str, object]:
    """The answers, as cookiecutter renders them into this hook."""
    return dict(json.loads(r"""{{ cookiecutter | tojson }}"""))


class Rejected(ValueError):
    """An answer that cannot generate a working repository."""


def check_slug(value: object) -> None:
    if isinstance(value, str) and len(value) > MAX_SLUG:
        raise Rejected(
            f"project_slug is {len(value)} characters long: at most {MAX_SLUG} are accepted"
        )
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise Rejected(
            f"project_slug {value!r} is not a repository name: use lowercase letters, digits "
            f"and single hyphens, starting with a letter, at most {MAX_SLUG} characters "
            "(for example 'churn-model')"
        )
    if value in LOCKED_PACKAGES:
        raise Rejected(
            f"project_slug {value!r} is the name of one of the project's dependencies: "
            "choose another name"
        )


def check_package(value: object) -> None:
    if not isinstance(value, str) or not PACKAGE.fullmatch(value):
        raise Rejected(
            f"package_name {value!r} is not a Python package name: use lowercase letters, "
            "digits and underscores, starting with a letter (for example 'churn_model')"
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise Rejected(f"package_name {value!r} is a Python keyword: choose another name")
    if value in STDLIB_MODULES:
        raise Rejected(
            f"package_name {value!r} would shadow the standard library module of that name "
            f"(in at least one of Python {', '.join(SUPPORTED_PYTHONS)}): choose another name"
        )
    if value in STARTUP_MODULES:
        raise Rejected(
            f"package_name {value!r} is a module Python imports at start-up: choose another name"
        )
    if value in PROJECT_MODULES:
        raise Rejected(
            f"package_name {value!r} is taken by the project's own tests: choose another name"
        )
    for package, names in LOCKED_IMPORTS.items():
        if value in names:
            raise Rejected(
                f"package_name {value!r} would shadow the dependency {package.partition('==')[0]}"
                ", which installs a module of that name: choose another name"
            )


def check_model_name(value: object) -> None:
    if not isinstance(value, str) or not SLUG.fullmatch(value) or len(value) > MAX_SLUG:
        raise Rejected(
            f"model_name {value!r} is not a registry name: use lowercase letters, digits and "
            f"single hyphens, starting with a letter, at most {MAX_SLUG} characters"
        )


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise Rejected(f"{name} {value!r} is not supported: choose one of {', '.join(allowed)}")


def check_line(name: str, value: object, limit: int = MAX_LINE) -> None:
    """A name is one printable line; quotes are fine, the generated files escape them."""
    if not isinstance(value, str) or not value.strip():
        raise Rejected(f"{name} is empty: give a non-empty value")
    if len(value) > limit:
        raise Rejected(f"{name} is {len(value)} characters long: at most {limit} are accepted")
    if not value.isprintable():
        raise Rejected(
            f"{name} {value!r} contains a newline or control character: give a single line"
        )


def check_description(value: object) -> None:
    """Free text: quotes and line breaks survive (joined into one line where metadata needs it)."""
    if not isinstance(value, str) or not value.strip():
        raise Rejected("description is empty: give a sentence about the project")
    if len(value) > MAX_DESCRIPTION:
        raise Rejected(
            f"description is {len(value)} characters long: at most {MAX_DESCRIPTION} are accepted"
        )
    if any(not char.isprintable() and char not in "\n\r\t" for char in value):
        raise Rejected("description contains control characters: use plain text")


def check_email(value: object) -> None:
    if not isinstance(value, str) or not EMAIL.fullmatch(value):
        raise Rejected(f"author_email {value!r} is not an email address (for example a@b.org)")


def validate(answers: dict[str, object]) -> None:
    check_line("project_name", answers["project_name"])
    check_slug(answers["project_slug"])
    check_package(answers["package_name"])
    check_description(answers["description"])
    check_line("author_name", answers["author_name"])
    check_email(answers["author_email"])
    check_choice("python_version", answers["python_version"], SUPPORTED_PYTHONS)
    check_model_name(answers["model_name"])
    check_choice("task", answers["task"], TASKS)
    check_choice("license", answers["license"], LICENSES)


def main() -> int:
    try:
        validate(rendered_answers())
    except Rejected as rejected:
        print(f"ERROR: {rejected}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
