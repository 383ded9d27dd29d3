//! Log sources: PostgreSQL stderr/csvlog/jsonlog and MySQL/MariaDB general and slow logs, as query events.
