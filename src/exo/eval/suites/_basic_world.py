"""The world of the ``basic`` suite: a small made-up dataset and the tools over it.

Cities, employees, products and exchange rates are invented, so no model knows them from
training and must look them up; the arithmetic tools are exact; the file tools work inside
one run's workspace and refuse paths outside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CITIES", "EMPLOYEES", "INSTRUCTIONS", "PRODUCTS", "RATES", "make_tools", "num"]

CITIES: dict[str, dict[str, Any]] = {
    "Avalon": {"country": "Northland", "population": 182_000, "founded": 1721},
    "Brightwater": {"country": "Northland", "population": 96_500, "founded": 1688},
    "Cinderfall": {"country": "Northland", "population": 240_300, "founded": 1802},
    "Dunmere": {"country": "Southmark", "population": 51_200, "founded": 1590},
    "Eastvale": {"country": "Southmark", "population": 310_750, "founded": 1644},
    "Fernhollow": {"country": "Southmark", "population": 77_040, "founded": 1755},
    "Glimmerport": {"country": "Westreach", "population": 128_900, "founded": 1612},
    "Harrowgate": {"country": "Westreach", "population": 64_300, "founded": 1699},
    "Ironridge": {"country": "Westreach", "population": 205_600, "founded": 1733},
}

EMPLOYEES: dict[str, dict[str, Any]] = {
    "Ada": {"department": "Research", "salary": 7200, "manager": "Vera"},
    "Bram": {"department": "Research", "salary": 6100, "manager": "Ada"},
    "Cleo": {"department": "Research", "salary": 6650, "manager": "Ada"},
    "Dev": {"department": "Sales", "salary": 5400, "manager": "Hugo"},
    "Esme": {"department": "Sales", "salary": 5900, "manager": "Hugo"},
    "Finn": {"department": "Support", "salary": 4300, "manager": "Gwen"},
    "Gwen": {"department": "Support", "salary": 5100, "manager": "Vera"},
    "Hugo": {"department": "Sales", "salary": 6800, "manager": "Vera"},
    "Iris": {"department": "Support", "salary": 4550, "manager": "Gwen"},
    "Vera": {"department": "Board", "salary": 9900, "manager": "nobody"},
}

PRODUCTS: dict[str, dict[str, Any]] = {
    "KT-100": {"name": "kettle", "price": 34, "stock": 120},
    "LM-220": {"name": "lamp", "price": 52, "stock": 45},
    "MG-310": {"name": "mug", "price": 7, "stock": 900},
    "PN-400": {"name": "pan", "price": 41, "stock": 75},
    "TS-510": {"name": "toaster", "price": 63, "stock": 30},
}

RATES: dict[str, float] = {"KRN": 4.0, "LUM": 0.5, "ZED": 12.5}
"""Units of each made-up currency per euro."""

INSTRUCTIONS = (
    "You solve tasks with the tools provided. Look facts up with the tools (never guess) "
    "and use the arithmetic tools for every calculation. End your reply with a line "
    "'ANSWER: <answer>'."
)


def _record(table: dict[str, dict[str, Any]], key: str, what: str) -> str:
    found = table.get(key) or table.get(key.strip().title()) or table.get(key.strip().upper())
    return json.dumps(found) if found else f"no {what} named {key!r}; known: {', '.join(table)}"


def make_tools(workdir: Path) -> list[Callable[..., Any]]:
    """The suite's tools, bound to one run's workspace ``workdir``."""

    def city_info(name: str) -> str:
        """Return a city's country, population and founding year as JSON.

        Args:
            name: The city's name, e.g. "Avalon".
        """
        return _record(CITIES, name, "city")

    def cities_in(country: str) -> str:
        """Return the names of the cities of a country, comma separated.

        Args:
            country: The country's name, e.g. "Northland".
        """
        names = [n for n, c in CITIES.items() if c["country"].lower() == country.strip().lower()]
        return ", ".join(names) or f"no cities in {country!r}"

    def employee_info(name: str) -> str:
        """Return an employee's department, monthly salary and manager as JSON.

        Args:
            name: The employee's first name.
        """
        return _record(EMPLOYEES, name, "employee")

    def department_members(department: str) -> str:
        """Return the names of a department's employees, comma separated.

        Args:
            department: The department, e.g. "Sales".
        """
        want = department.strip().lower()
        names = [n for n, e in EMPLOYEES.items() if e["department"].lower() == want]
        return ", ".join(names) or f"no department {department!r}"

    def product_info(sku: str) -> str:
        """Return a product's name, unit price in euros and units in stock as JSON.

        Args:
            sku: The product code, e.g. "KT-100".
        """
        return _record(PRODUCTS, sku, "product")

    def exchange_rate(currency: str) -> str:
        """Return how many units of a currency one euro buys.

        Args:
            currency: The currency code, e.g. "KRN".
        """
        rate = RATES.get(currency.strip().upper())
        return str(rate) if rate is not None else f"unknown currency {currency!r}"

    def add(a: float, b: float) -> float:
        """Return a + b."""
        return num(a + b)

    def subtract(a: float, b: float) -> float:
        """Return a - b."""
        return num(a - b)

    def multiply(a: float, b: float) -> float:
        """Return a * b."""
        return num(a * b)

    def divide(a: float, b: float) -> float | str:
        """Return a / b."""
        return num(a / b) if b else "cannot divide by zero"

    return [
        city_info,
        cities_in,
        employee_info,
        department_members,
        product_info,
        exchange_rate,
        add,
        subtract,
        multiply,
        divide,
        *_file_tools(workdir),
    ]


def num(value: float) -> float:
    rounded = round(value, 4)
    return int(rounded) if rounded == int(rounded) else rounded


def _file_tools(workdir: Path) -> list[Callable[..., Any]]:
    def inside(name: str) -> Path:
        path = (workdir / name).resolve()
        if workdir.resolve() not in path.parents:
            raise ValueError(f"{name!r} is outside the workspace")
        return path

    def read_file(name: str) -> str:
        """Return the text of a file in the workspace.

        Args:
            name: The file's name, e.g. "notes.txt".
        """
        path = inside(name)
        return path.read_text() if path.is_file() else f"no file named {name!r}"

    def write_file(name: str, text: str) -> str:
        """Write (or overwrite) a file in the workspace with the given text.

        Args:
            name: The file's name.
            text: The whole new content.
        """
        inside(name).write_text(text)
        return f"wrote {len(text)} characters to {name}"

    def append_line(name: str, line: str) -> str:
        """Append one line to a file in the workspace (creating it if needed).

        Args:
            name: The file's name.
            line: The line to add (without a newline).
        """
        with inside(name).open("a") as f:
            f.write(line.rstrip("\n") + "\n")
        return f"appended to {name}"

    def list_files() -> str:
        """Return the names of the files in the workspace, comma separated."""
        return ", ".join(sorted(p.name for p in workdir.iterdir())) or "(no files)"

    return [read_file, write_file, append_line, list_files]
