"""Family-independent machinery: budgets, the portfolio, the CP-SAT and PuLP runners."""
