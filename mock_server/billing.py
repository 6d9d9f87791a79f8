"""Credits: a balance per account, a usage figure per key, reservations per task.

A create reserves the model's ``credits_reserved`` (402 when the balance cannot cover it); a task
that fails or is cancelled gets its reservation back at the moment it ends ("failed tasks are not
charged; reserved credits return automatically", API_NOTES §5). The refund is an event on the
clock, so it happens whether or not anybody reads the task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import InsufficientQuota

DEFAULT_CREDITS = 1_000_000.0
"""Balance of an account the fake has not seen before: generous, so local work never runs dry."""

BILLING_URL = "https://evolink.ai/dashboard/billing"


@dataclass(slots=True)
class Account:
    name: str
    balance: float
    used: float = 0.0
    keys: dict[str, float] = field(default_factory=dict)
    """Credits used per key of this account."""

    def describe(self) -> dict[str, object]:
        return {
            "account": self.name,
            "remaining_credits": round(self.balance, 4),
            "used_credits": round(self.used, 4),
            "keys": {k: round(v, 4) for k, v in self.keys.items()},
        }


@dataclass(slots=True)
class Reservation:
    account: str
    key: str
    amount: float
    refunded: bool = False


class Ledger:
    def __init__(self, default_credits: float = DEFAULT_CREDITS) -> None:
        self.default_credits = default_credits
        self.accounts: dict[str, Account] = {}
        self.reservations: dict[str, Reservation] = {}

    def account(self, name: str) -> Account:
        account = self.accounts.get(name)
        if account is None:
            account = self.accounts[name] = Account(name, self.default_credits)
        return account

    def check(self, account: str, amount: float) -> None:
        """Raise the documented 402 unless ``account`` can pay ``amount``."""
        balance = self.account(account).balance
        if balance < amount:
            raise InsufficientQuota(
                f"Insufficient credits: balance {balance:g}, this request needs {amount:g}",
                fallback_suggestion=BILLING_URL,
            )

    def reserve(self, task_id: str, account: str, key: str, amount: float) -> None:
        self.check(account, amount)
        holder = self.account(account)
        holder.balance -= amount
        holder.used += amount
        holder.keys[key] = holder.keys.get(key, 0.0) + amount
        self.reservations[task_id] = Reservation(account, key, amount)

    def refund(self, task_id: str) -> bool:
        """Give a task's reservation back, once; False when there was nothing to give."""
        reservation = self.reservations.get(task_id)
        if reservation is None or reservation.refunded:
            return False
        reservation.refunded = True
        holder = self.account(reservation.account)
        holder.balance += reservation.amount
        holder.used -= reservation.amount
        holder.keys[reservation.key] = holder.keys.get(reservation.key, 0.0) - reservation.amount
        return True

    def set_balance(self, account: str, credits: float) -> Account:
        holder = self.account(account)
        holder.balance = credits
        return holder

    def forget(self, task_id: str) -> None:
        self.reservations.pop(task_id, None)

    def reset(self) -> None:
        self.accounts.clear()
        self.reservations.clear()
