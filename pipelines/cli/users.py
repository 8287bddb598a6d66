"""`fundflow users`: console accounts from the terminal."""

from __future__ import annotations

import getpass
import sys

from console.users import add_user, disable_user, list_users, set_password
from pipelines.cases.store import CaseStore
from pipelines.errors import FundflowError
from pipelines.settings import Settings
from pipelines.vocabulary import ROLES


def users_command(args, settings: Settings) -> int:
    store = CaseStore.open(settings)
    try:
        if args.action == "list":
            for row in list_users(store):
                state = (
                    "停用"
                    if row["disabled"]
                    else ("锁定" if row["locked_until"] and row["locked_until"] > store.now() else "正常")
                )
                print(f"{row['name']}\t{ROLES.get(row['role'], row['role'])}\t{row['role']}\t{state}")
            return 0
        if not args.name:
            raise FundflowError("请给出用户名 / a user name is required")
        if args.action == "add":
            if not args.role:
                raise FundflowError("请用 --role 指定角色 / --role is required")
            add_user(store, args.name, args.role, _password_from(args))
            print(f"已添加用户 / user added: {args.name} ({ROLES[args.role]})")
        elif args.action == "passwd":
            set_password(store, args.name, _password_from(args))
            print(f"已修改密码 / password changed: {args.name}")
        elif args.action == "disable":
            disable_user(store, args.name)
            print(f"已停用 / disabled: {args.name}")
        return 0
    finally:
        store.close()


def _password_from(args) -> str:
    if args.password:
        return args.password
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("密码 / password: ")
    if getpass.getpass("再输入一次 / again: ") != first:
        raise FundflowError("两次输入的密码不一致 / the passwords differ")
    return first
