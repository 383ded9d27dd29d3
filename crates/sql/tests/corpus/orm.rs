// Realistic ORM statements shared by the tests and the benchmark (both `include!` this file).


/// (name, dialect is MySQL, SQL) in the shapes real ORMs emit.
#[allow(dead_code)]
pub const ORM_QUERIES: &[(&str, bool, &str)] = &[
    (
        "django_select",
        false,
        "SELECT \"shop_order\".\"id\", \"shop_order\".\"customer_id\", \"shop_order\".\"status\", \"shop_order\".\"total_cents\", \"shop_order\".\"created_at\", \"shop_order\".\"updated_at\" FROM \"shop_order\" WHERE (\"shop_order\".\"customer_id\" = 4211 AND NOT \"shop_order\".\"archived\") ORDER BY \"shop_order\".\"created_at\" DESC LIMIT 21",
    ),
    (
        "rails_find_by",
        false,
        "SELECT \"comments\".* FROM \"comments\" WHERE \"comments\".\"post_id\" = $1 AND \"comments\".\"deleted_at\" IS NULL ORDER BY \"comments\".\"created_at\" ASC /*application:Blog,controller:posts,action:show*/",
    ),
    (
        "sqlalchemy_select",
        false,
        "SELECT users.id AS users_id, users.name AS users_name, users.email AS users_email, users.created_at AS users_created_at \nFROM users \nWHERE users.id = %(pk_1)s",
    ),
    (
        "hibernate_select",
        true,
        "select o1_0.id,o1_0.customer_id,o1_0.placed_at,o1_0.status,o1_0.total from orders o1_0 where o1_0.customer_id=? order by o1_0.placed_at desc limit ?",
    ),
    (
        "sequelize_select",
        true,
        "SELECT `id`, `title`, `body`, `authorId`, `createdAt`, `updatedAt` FROM `Posts` AS `Post` WHERE `Post`.`authorId` = 17 AND `Post`.`published` = true LIMIT 10; /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
    ),
    (
        "django_count",
        false,
        "SELECT COUNT(*) AS \"__count\" FROM \"blog_comment\" WHERE \"blog_comment\".\"post_id\" = 99 /*controller='post_detail',framework='django%3A5.2',route='blog%2F%3Cint%3Apk%3E%2F'*/",
    ),
    (
        "prisma_select",
        false,
        "SELECT \"public\".\"User\".\"id\", \"public\".\"User\".\"email\", \"public\".\"User\".\"name\" FROM \"public\".\"User\" WHERE (\"public\".\"User\".\"id\" = $1 AND 1=1) LIMIT $2 OFFSET $3",
    ),
    (
        "laravel_select",
        true,
        "select * from `orders` where `orders`.`user_id` = ? and `orders`.`user_id` is not null and `orders`.`deleted_at` is null",
    ),
    (
        "rails_insert",
        false,
        "INSERT INTO \"events\" (\"name\", \"payload\", \"created_at\", \"updated_at\") VALUES ($1, $2, $3, $4) RETURNING \"id\" /*application='Shop',controller='checkout',action='create'*/",
    ),
];

/// A `SELECT ... WHERE id IN (...)` with `n` integer items.
#[allow(dead_code)]
pub fn in_list(n: usize) -> String {
    let items: Vec<String> = (0..n).map(|i| (1000 + i * 7).to_string()).collect();
    format!("SELECT \"products\".\"id\", \"products\".\"name\", \"products\".\"price\" FROM \"products\" WHERE \"products\".\"id\" IN ({})", items.join(", "))
}

/// A multi-row INSERT with `rows` rows of four values.
#[allow(dead_code)]
pub fn multi_insert(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| format!("({}, 'sku-{}', {}.{:02}, '2026-11-21 18:00:{:02}')", i, i * 13, i * 3, i % 100, i % 60))
        .collect();
    format!("INSERT INTO \"line_items\" (\"order_id\", \"sku\", \"price\", \"created_at\") VALUES {}", values.join(", "))
}
