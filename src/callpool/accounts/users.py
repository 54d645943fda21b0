"""People who sign in to the dashboard: users, their memberships, argon2 passwords."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callpool import clock
from callpool.accounts.service import first_account
from callpool.errors import Conflict, Invalid
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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    return email


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


def authenticate(db: Session, email: str, password: str) -> User | None:
    """The user whose email and password these are, or ``None``."""
    user = user_by_email(db, email)
    if user is None:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):  # argon2 parameters were raised since
        user.password_hash = hash_password(password)
    return user


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
