"""``basic``: 37 multi-step tool-use tasks over a small, fixed, made-up dataset.

Cities, employees, products and exchange rates are invented (so no model knows them from
training: it must look them up), the arithmetic tools are exact, and the file tools work in
a fresh temporary directory per run. Every answer is checked by a program; every task has a
reference solution (:func:`exo.eval.suite.reference_model` replays it).
"""

from __future__ import annotations

from typing import Any

from exo.eval.suite import Step, Suite, Task, file_has, file_lines, says
from exo.eval.suites._basic_world import (
    CITIES,
    EMPLOYEES,
    INSTRUCTIONS,
    PRODUCTS,
    RATES,
    make_tools,
    num,
)

__all__ = ["CITIES", "EMPLOYEES", "PRODUCTS", "RATES", "SUITE", "make_tools"]


# --------------------------------------------------------------------------- tasks


def _n(value: float) -> str:
    return str(num(value))


def _city_tasks() -> list[Task]:
    tasks = []
    for i, name in enumerate(("Avalon", "Dunmere", "Ironridge"), 1):
        pop = CITIES[name]["population"]
        tasks.append(
            Task(
                id=f"city-pop-{i}",
                prompt=f"What is the population of {name}?",
                check=says(str(pop)),
                reference=(Step("city_info", {"name": name}),),
                answer=f"ANSWER: {pop}",
            )
        )
    for i, (a, b) in enumerate(
        (("Eastvale", "Dunmere"), ("Cinderfall", "Avalon"), ("Glimmerport", "Harrowgate"),
         ("Ironridge", "Brightwater")), 1
    ):  # fmt: skip
        pa, pb = CITIES[a]["population"], CITIES[b]["population"]
        tasks.append(
            Task(
                id=f"city-diff-{i}",
                prompt=f"How many more people live in {a} than in {b}?",
                check=says(_n(pa - pb)),
                reference=(
                    Step("city_info", {"name": a}),
                    Step("city_info", {"name": b}),
                    Step("subtract", {"a": pa, "b": pb}),
                ),
                answer=f"ANSWER: {_n(pa - pb)}",
            )
        )
    return tasks


def _country_tasks() -> list[Task]:
    tasks = []
    for i, country in enumerate(("Northland", "Southmark", "Westreach"), 1):
        names = [n for n, c in CITIES.items() if c["country"] == country]
        pops = [CITIES[n]["population"] for n in names]
        steps = [Step("cities_in", {"country": country})]
        steps += [Step("city_info", {"name": n}) for n in names]
        steps += [Step("add", {"a": pops[0], "b": pops[1]}),
                  Step("add", {"a": pops[0] + pops[1], "b": pops[2]})]  # fmt: skip
        tasks.append(
            Task(
                id=f"country-total-{i}",
                prompt=f"What is the total population of all the cities of {country}?",
                check=says(_n(sum(pops))),
                reference=tuple(steps),
                answer=f"ANSWER: {sum(pops)}",
            )
        )
        oldest = min(names, key=lambda n: CITIES[n]["founded"])
        tasks.append(
            Task(
                id=f"country-oldest-{i}",
                prompt=f"Which city of {country} was founded earliest?",
                check=says(oldest, wrong=[n for n in names if n != oldest]),
                reference=(
                    Step("cities_in", {"country": country}),
                    *(Step("city_info", {"name": n}) for n in names),
                ),
                answer=f"ANSWER: {oldest}",
            )
        )
    return tasks


def _people_tasks() -> list[Task]:
    tasks = []
    for i, name in enumerate(("Bram", "Finn", "Dev"), 1):
        boss = EMPLOYEES[name]["manager"]
        top = EMPLOYEES[boss]["manager"]
        tasks.append(
            Task(
                id=f"manager-chain-{i}",
                prompt=f"Who is the manager of the manager of {name}?",
                check=says(top, wrong=[boss, name]),
                reference=(
                    Step("employee_info", {"name": name}),
                    Step("employee_info", {"name": boss}),
                ),
                answer=f"ANSWER: {top}",
            )
        )
    for i, dept in enumerate(("Research", "Sales", "Support"), 1):
        names = [n for n, e in EMPLOYEES.items() if e["department"] == dept]
        pay = [EMPLOYEES[n]["salary"] for n in names]
        lookups = [Step("department_members", {"department": dept})]
        lookups += [Step("employee_info", {"name": n}) for n in names]
        tasks.append(
            Task(
                id=f"payroll-{i}",
                prompt=f"What is the total monthly salary of the {dept} department?",
                check=says(_n(sum(pay))),
                reference=(
                    *lookups,
                    Step("add", {"a": pay[0], "b": pay[1]}),
                    Step("add", {"a": pay[0] + pay[1], "b": pay[2]}),
                ),
                answer=f"ANSWER: {sum(pay)}",
            )
        )
        best = max(names, key=lambda n: EMPLOYEES[n]["salary"])
        if i < 3:
            tasks.append(
                Task(
                    id=f"top-earner-{i}",
                    prompt=f"Who earns the most in the {dept} department?",
                    check=says(best, wrong=[n for n in names if n != best]),
                    reference=tuple(lookups),
                    answer=f"ANSWER: {best}",
                )
            )
    return tasks


def _shop_tasks() -> list[Task]:
    tasks = []
    for i, sku in enumerate(("KT-100", "MG-310", "TS-510"), 1):
        p = PRODUCTS[sku]
        value = p["price"] * p["stock"]
        tasks.append(
            Task(
                id=f"stock-value-{i}",
                prompt=f"What is the total value in euros of the stock of product {sku}?",
                check=says(_n(value)),
                reference=(
                    Step("product_info", {"sku": sku}),
                    Step("multiply", {"a": p["price"], "b": p["stock"]}),
                ),
                answer=f"ANSWER: {value}",
            )
        )
    for i, (sku, cur) in enumerate((("LM-220", "KRN"), ("PN-400", "ZED"), ("KT-100", "LUM")), 1):
        price, rate = PRODUCTS[sku]["price"], RATES[cur]
        tasks.append(
            Task(
                id=f"fx-price-{i}",
                prompt=f"What does one unit of product {sku} cost in {cur}?",
                check=says(_n(price * rate)),
                reference=(
                    Step("product_info", {"sku": sku}),
                    Step("exchange_rate", {"currency": cur}),
                    Step("multiply", {"a": price, "b": rate}),
                ),
                answer=f"ANSWER: {_n(price * rate)}",
            )
        )
    a, b = PRODUCTS["LM-220"], PRODUCTS["PN-400"]
    cheaper = "LM-220" if a["price"] * 3 < b["price"] * 4 else "PN-400"
    tasks.append(
        Task(
            id="basket-compare",
            prompt="Which costs less: 3 units of LM-220 or 4 units of PN-400? "
            "Answer with the product code.",
            check=says(cheaper, wrong=[s for s in ("LM-220", "PN-400") if s != cheaper]),
            reference=(
                Step("product_info", {"sku": "LM-220"}),
                Step("product_info", {"sku": "PN-400"}),
                Step("multiply", {"a": a["price"], "b": 3}),
                Step("multiply", {"a": b["price"], "b": 4}),
            ),
            answer=f"ANSWER: {cheaper}",
        )
    )
    return tasks


def _by(table: dict[str, dict[str, Any]], field: str, names: list[str], high: bool) -> list[str]:
    return sorted(names, key=lambda n: table[n][field], reverse=high)


def _file_tasks() -> list[Task]:
    research = [n for n, e in EMPLOYEES.items() if e["department"] == "Research"]
    ranked = _by(EMPLOYEES, "salary", research, high=True)
    west = [n for n, c in CITIES.items() if c["country"] == "Westreach"]
    by_age = _by(CITIES, "founded", west, high=False)
    sales = [n for n, e in EMPLOYEES.items() if e["department"] == "Sales"]
    sales_pay = [EMPLOYEES[n]["salary"] for n in sales]
    pan = PRODUCTS["PN-400"]["price"]
    return [
        Task(
            id="config-edit",
            prompt="In config.txt, change the mode from slow to fast and keep the other lines.",
            files={"config.txt": "name=demo\nmode=slow\nretries=3\n"},
            check=file_lines("config.txt", ["name=demo", "mode=fast", "retries=3"]),
            reference=(
                Step("read_file", {"name": "config.txt"}),
                Step(
                    "write_file",
                    {"name": "config.txt", "text": "name=demo\nmode=fast\nretries=3\n"},
                ),
            ),
            answer="ANSWER: done",
        ),
        Task(
            id="report-pop",
            prompt="Write the population of Glimmerport into a new file named report.txt.",
            check=file_has("report.txt", "128900"),
            reference=(
                Step("city_info", {"name": "Glimmerport"}),
                Step("write_file", {"name": "report.txt", "text": "128900\n"}),
            ),
            answer="ANSWER: done",
        ),
        Task(
            id="report-payroll",
            prompt="Write the total monthly salary of the Sales department to payroll.txt.",
            check=file_has("payroll.txt", _n(sum(sales_pay))),
            reference=(
                Step("department_members", {"department": "Sales"}),
                *(Step("employee_info", {"name": n}) for n in sales),
                Step("add", {"a": sales_pay[0], "b": sales_pay[1]}),
                Step("add", {"a": sales_pay[0] + sales_pay[1], "b": sales_pay[2]}),
                Step("write_file", {"name": "payroll.txt", "text": f"{sum(sales_pay)}\n"}),
            ),
            answer="ANSWER: done",
        ),
        Task(
            id="ordered-log",
            prompt="Append three lines to log.txt in this order: 'start', then the founding "
            "year of Avalon, then 'end'.",
            check=file_lines("log.txt", ["start", "1721", "end"]),
            reference=(
                Step("city_info", {"name": "Avalon"}),
                Step("append_line", {"name": "log.txt", "line": "start"}),
                Step("append_line", {"name": "log.txt", "line": "1721"}),
                Step("append_line", {"name": "log.txt", "line": "end"}),
            ),
            answer="ANSWER: done",
        ),
        Task(
            id="rank-research",
            prompt="Write the names of the Research department's employees to ranking.txt, "
            "one per line, from the highest salary to the lowest.",
            check=file_lines("ranking.txt", ranked),
            reference=(
                Step("department_members", {"department": "Research"}),
                *(Step("employee_info", {"name": n}) for n in research),
                Step("write_file", {"name": "ranking.txt", "text": "\n".join(ranked) + "\n"}),
            ),
            answer="ANSWER: done",
        ),
        Task(
            id="sort-west",
            prompt="Write the cities of Westreach to founded.txt, one per line, from the "
            "oldest to the newest.",
            check=file_lines("founded.txt", by_age),
            reference=(
                Step("cities_in", {"country": "Westreach"}),
                *(Step("city_info", {"name": n}) for n in west),
                Step("write_file", {"name": "founded.txt", "text": "\n".join(by_age) + "\n"}),
            ),
            answer="ANSWER: done",
        ),
        Task(
            id="todo-swap",
            prompt="Remove the line 'call Vera' from todo.txt, then add 'call Hugo' as its "
            "last line; keep the other lines in order.",
            files={"todo.txt": "buy milk\ncall Vera\nwrite report\n"},
            check=file_lines("todo.txt", ["buy milk", "write report", "call Hugo"]),
            reference=(
                Step("read_file", {"name": "todo.txt"}),
                Step("write_file", {"name": "todo.txt", "text": "buy milk\nwrite report\n"}),
                Step("append_line", {"name": "todo.txt", "line": "call Hugo"}),
            ),
            answer="ANSWER: done",
        ),
        Task(
            id="sum-file",
            prompt="Add up the numbers in numbers.txt and append the total as a new last "
            "line of the same file.",
            files={"numbers.txt": "12\n30\n58\n"},
            check=file_lines("numbers.txt", ["12", "30", "58", "100"]),
            reference=(
                Step("read_file", {"name": "numbers.txt"}),
                Step("add", {"a": 12, "b": 30}),
                Step("add", {"a": 42, "b": 58}),
                Step("append_line", {"name": "numbers.txt", "line": "100"}),
            ),
            answer="ANSWER: done",
        ),
        Task(
            id="order-total",
            prompt="order.txt names a product code. Write the price of 5 units of that "
            "product, in euros, to total.txt.",
            files={"order.txt": "PN-400\n"},
            check=file_has("total.txt", _n(pan * 5)),
            reference=(
                Step("read_file", {"name": "order.txt"}),
                Step("product_info", {"sku": "PN-400"}),
                Step("multiply", {"a": pan, "b": 5}),
                Step("write_file", {"name": "total.txt", "text": f"{pan * 5}\n"}),
            ),
            answer="ANSWER: done",
        ),
    ]


SUITE = Suite(
    name="basic",
    description="multi-step tool use: look-ups, arithmetic, file edits, ordering",
    instructions=INSTRUCTIONS,
    tasks=(*_city_tasks(), *_country_tasks(), *_people_tasks(), *_shop_tasks(), *_file_tasks()),
    tools=make_tools,
)
"""The suite: ``exo eval basic``."""
