"""People who sign in to the dashboard: users, their memberships, argon2 passwords."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.service import first_account
from callpool.accounts.sessions import end_user_sessions
from callpool.errors import Conflict, Invalid, NotFound
from callpool.models import Account, Membership, User

OWNER, MEMBER = "owner", "member"
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
# Verifying against this when the email is unknown makes a wrong email cost as long as a wrong
# password: the response time does not tell an attacker which addresses have accounts.
_DUMMY_HASH = _hasher.hash("callpool-no-such-user")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_credentials(email: str, password: str) -> str:
    """The normalized email, or ``Invalid`` naming the field at fault."""
    email = normalize_email(email)
    if "@" not in email or email.startswith("@") or email.endswith("@") or len(email) > 254:
        raise Invalid("enter an email address such as you@example.com", field="email")
    check_new_password(password)
    return email


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )


def user_by_email(db: Session, email: str) -> User | None:
    user: User | None = db.scalar(select(User).where(User.email == normalize_email(email)))
    return user


def create_user(db: Session, email: str, password: str) -> User:
    email = check_new_credentials(email, password)
    if user_by_email(db, email) is not None:
        raise Conflict(f"a user with the email {email} already exists")
    user = User(email=email, password_hash=hash_password(password), created_at=clock.now())
    db.add(user)
    db.flush()
    return user


def add_membership(db: Session, user_id: int, account_id: int, role: str = MEMBER) -> Membership:
    membership = Membership(user_id=user_id, account_id=account_id, role=role)
    db.add(membership)
    db.flush()
    return membership


def create_user_with_account(db: Session, email: str, password: str) -> tuple[User, Account]:
    """``callpool createuser``: the user joins the first account (made if none) as its owner."""
    user = create_user(db, email, password)
    account = first_account(db, create_name="Default account")
    assert account is not None
    add_membership(db, user.id, account.id, OWNER)
    return user, account


def ensure_user(db: Session, email: str, password: str, account_id: int, role: str = OWNER) -> bool:
    """Make ``email`` a user of ``account_id`` unless that email exists (the demo's sign-in);
    returns whether it was created."""
    if user_by_email(db, email) is not None:
        return False
    add_membership(db, create_user(db, email, password).id, account_id, role)
    return True


@dataclass(frozen=True)
class Credentials:
    """What a sign-in is checked against, read before the (slow) check."""

    user_id: int
    password_hash: str


@dataclass(frozen=True)
class Verified:
    user_id: int
    new_hash: str | None  # argon2's parameters were raised since: store this instead


def credentials(db: Session, email: str) -> Credentials | None:
    row = db.execute(
        select(User.id, User.password_hash).where(User.email == normalize_email(email))
    ).first()
    return None if row is None else Credentials(row[0], row[1])


def check_password(found: Credentials | None, password: str) -> Verified | None:
    """Whether ``password`` is the user's. Slow on purpose (argon2, ~160 ms): call it off the
    event loop, with no database transaction open."""
    if found is None:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(found.password_hash, password):
        return None
    rehash = _hasher.check_needs_rehash(found.password_hash)
    return Verified(found.user_id, hash_password(password) if rehash else None)


def store_rehash(db: Session, found: Credentials, new_hash: str) -> None:
    """Upgrade the stored hash, unless the password changed meanwhile."""
    db.execute(
        update(User)
        .where(User.id == found.user_id, User.password_hash == found.password_hash)
        .values(password_hash=new_hash)
    )


def new_password_hash(password: str) -> str:
    """The hash to store for a new password (slow: hash before opening a transaction)."""
    check_new_password(password)
    return hash_password(password)


def replace_password(db: Session, user_id: int, password_hash: str) -> None:
    """Set a user's password (hashed by ``new_password_hash``) and end all their sessions: a
    password is changed because someone else may know it."""
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    user.password_hash = password_hash
    end_user_sessions(db, user_id)


def remove_member(db: Session, account_id: int, user_id: int) -> None:
    """Take ``user_id`` out of the account and end their sessions at once, everywhere."""
    membership = db.scalar(
        select(Membership).where(Membership.account_id == account_id, Membership.user_id == user_id)
    )
    if membership is None:
        raise NotFound(f"user {user_id} is not a member of this account")
    if membership.role == OWNER and _owners(db, account_id) == 1:
        raise Conflict("the account's only owner cannot be removed")
    db.delete(membership)
    end_user_sessions(db, user_id)


def _owners(db: Session, account_id: int) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.account_id == account_id, Membership.role == OWNER)
        )
        or 0
    )


def account_of(db: Session, user_id: int) -> tuple[Account, str] | None:
    """The account a signed-in user works in (their first membership) and their role there."""
    row = db.execute(
        select(Account, Membership.role)
        .join(Membership, Membership.account_id == Account.id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.id)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def count_users(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User)) or 0
