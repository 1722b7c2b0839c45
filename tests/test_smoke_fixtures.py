async def test_fixtures_reach_real_services(redis, engine):
    from sqlalchemy import text
    assert await redis.ping()
    async with engine.connect() as conn:
        assert (await conn.execute(text("select count(*) from hosts"))).scalar() == 0
